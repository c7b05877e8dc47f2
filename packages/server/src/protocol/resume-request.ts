/**
 * A client's resume request: the last seq it saw and that seq's epoch, from the upgrade URL's query or
 * from its auth frame (docs/protocol.md §4). Neither set: no resume (`resume: "none"`).
 */
export interface ResumeRequest {
  readonly since?: number | undefined;
  readonly epoch?: string | undefined;
  /**
   * `snapshot`: catch up with one `run_snapshot` frame per run where there would be no replay (no `since`,
   * or a reset), docs/protocol.md F.
   */
  readonly catchUp?: CatchUpMode | undefined;
}

/** The catch-up modes a client may ask for (docs/protocol.md F). */
export const CATCH_UP_MODES = ['snapshot', 'none'] as const;
export type CatchUpMode = (typeof CATCH_UP_MODES)[number];
