/**
 * A client's resume request: the last seq it saw and that seq's epoch, from the upgrade URL's query or
 * from its auth frame (docs/protocol.md §4). Neither set: no resume (`resume: "none"`).
 */
export interface ResumeRequest {
  readonly since?: number | undefined;
  readonly epoch?: string | undefined;
}
