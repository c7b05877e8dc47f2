/**
 * The compatibility surface, in one place (docs/architecture.md, "Modules"). Each alias names what it maps to
 * and why it exists; remove an alias only with a major version.
 */

/**
 * Legacy client frame types and the frame type they are read as.
 * `chat_message`: the frame name used by hand-rolled "WebSocket manager" front ends that agentcast
 * replaces (docs/protocol.md §6); accepted so they can switch gateways without a client release.
 */
export const LEGACY_FRAME_ALIASES: Readonly<Record<string, string>> = { chat_message: 'user_message' };

/** The current name of a client frame type. */
export function canonicalFrameType(type: string): string {
  return Object.hasOwn(LEGACY_FRAME_ALIASES, type) ? (LEGACY_FRAME_ALIASES[type] as string) : type;
}
