/** How close to the bottom, in pixels, still counts as "at the bottom" (a line of slack). */
const SLACK_PX = 24;

/**
 * Runs `change` (which adds to `scroller`'s content) and keeps the newest content in view if the reader
 * was at the bottom before it: a growing answer is followed, but a reader who scrolled up to read
 * something earlier is left where they are.
 */
export function followBottom(scroller: HTMLElement, change: () => void): void {
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= SLACK_PX;
  change();
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
}
