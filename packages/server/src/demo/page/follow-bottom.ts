/** How close to the bottom, in pixels, still counts as "at the bottom" (a line of slack). */
const SLACK_PX = 24;

/**
 * Runs `change` (which adds to `scroller`'s content) and keeps the newest content in view if the reader
 * was at the bottom before it: a growing answer is followed, but a reader who scrolled up to read
 * something earlier is left where they are.
 */
export function followBottom(scroller: HTMLElement, change: () => void): void {
  const wasAtBottom = atBottom(scroller);
  change();
  if (wasAtBottom) scroller.scrollTop = scroller.scrollHeight;
}

/**
 * {@link followBottom} for a list that changes many times a frame (a burst of tokens, one span each):
 * whether the reader is at the bottom is read once, before the frame's first change, and the list is
 * scrolled once, at the next frame. One layout a frame instead of one per change, which for a burst of
 * thousands of tokens is the difference between a page that keeps up and one that freezes for seconds.
 */
export class FrameFollower {
  readonly #scroller: HTMLElement;
  /** Whether the reader was at the bottom before this frame's first change; undefined between frames. */
  #atBottom: boolean | undefined;

  constructor(scroller: HTMLElement) {
    this.#scroller = scroller;
  }

  change(change: () => void): void {
    if (this.#atBottom === undefined) {
      const s = this.#scroller;
      this.#atBottom = atBottom(s);
      requestAnimationFrame(() => {
        if (this.#atBottom === true) s.scrollTop = s.scrollHeight;
        this.#atBottom = undefined;
      });
    }
    change();
  }
}

/** Whether the reader is at the bottom of `scroller`, within a line of slack (reads the layout). */
function atBottom(scroller: HTMLElement): boolean {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= SLACK_PX;
}
