/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header): version 00,
 * a 32-hex trace id and a 16-hex parent id, neither all zeros, and 2-hex flags. Lower case only, as the
 * spec requires.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/**
 * The `traceparent` header of a request, when it is one (docs/protocol.md D, "Trace context"); undefined
 * for a missing or malformed one, which the spec says to ignore rather than refuse. Several headers
 * (an array) are ambiguous and ignored too.
 */
export function parseTraceparent(header: string | readonly string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const value = header.trim();
  const match = TRACEPARENT.exec(value);
  if (match === null) return undefined;
  if (/^0+$/.test(match[1] as string) || /^0+$/.test(match[2] as string)) return undefined;
  return value;
}
