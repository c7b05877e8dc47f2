/**
 * The largest frame the page's client sends: the SDK's `maxFrameBytes` default, the gateway's default
 * `max_payload` (docs/protocol.md §5). A larger frame is refused by the SDK before it is sent.
 */
export const MAX_FRAME_BYTES = 65_536;

/** Room for the rest of the `user_message` frame around the text: type, a 36-character id, the agent. */
const FRAME_OVERHEAD_BYTES = 512;

const encoder = new TextEncoder();

/**
 * Why `text` cannot be sent as one message, in words for the person typing it, or `undefined` when it
 * fits. Measured as it goes on the wire: UTF-8 of the JSON string, escapes included.
 */
export function messageTooLong(text: string): string | undefined {
  const bytes = encoder.encode(JSON.stringify(text)).length;
  const limit = MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES;
  if (bytes <= limit) return undefined;
  return `This message is too long to send: ${format(bytes)} bytes, and one message can be at most ${format(limit)}. Shorten it or split it.`;
}

function format(n: number): string {
  return n.toLocaleString('en-US');
}
