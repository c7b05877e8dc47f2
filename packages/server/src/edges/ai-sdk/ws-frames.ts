import { ID_MAX_LENGTH, idSchema } from '../../protocol/events.js';
import { type ChatRequest, parseChatRequest } from './chat-request.js';
import type { UiMessageChunk } from './ui-message-encoder.js';

/**
 * The frames of the AI SDK's `WebSocketChatTransport` protocol on `GET /v1/ai-sdk/ws` (docs/protocol.md J).
 * Client: `send` (start a run), `resume` (re-attach the chat's active run), `abort` (cancel it). Server:
 * `start`, `chunk` (with `sequence` 0, 1, 2, … per request), `end`, `no-active`, `error`. Pure: no I/O.
 */

/** A request id is the transport's own: 1..128 characters, as every id of the gateway. */
const requestIdSchema = idSchema;

/** A client frame, checked. */
export type AiSdkClientFrame =
  | { readonly type: 'send'; readonly requestId: string; readonly request: ChatRequest }
  | {
      readonly type: 'resume';
      readonly requestId: string;
      readonly chatId: string;
      readonly lastSequence?: number | undefined;
    }
  | { readonly type: 'abort'; readonly requestId: string };

/** Why a frame was refused: the `error` frame to answer with (its request id when the frame had one). */
export interface AiSdkFrameError {
  readonly requestId: string;
  readonly errorText: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses one text frame of the client (docs/protocol.md J); every refusal names what is wrong. */
export function parseAiSdkFrame(
  text: string,
):
  | { readonly ok: true; readonly frame: AiSdkClientFrame }
  | { readonly ok: false; readonly error: AiSdkFrameError } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return refuse('', 'frame is not valid JSON');
  }
  if (!isRecord(json)) return refuse('', 'frame must be a JSON object with "type" and "requestId"');
  const requestId = requestIdSchema.safeParse(json.requestId);
  if (!requestId.success) return refuse('', `requestId: required, 1..${ID_MAX_LENGTH} characters`);
  const id = requestId.data;
  switch (json.type) {
    case 'abort':
      return { ok: true, frame: { type: 'abort', requestId: id } };
    case 'resume': {
      const chatId = idSchema.safeParse(json.id);
      if (!chatId.success) return refuse(id, `id: required, the chat id (1..${ID_MAX_LENGTH} characters)`);
      const last = json.lastSequence;
      if (last !== undefined && !(Number.isSafeInteger(last) && (last as number) >= 0)) {
        return refuse(id, 'lastSequence: must be a non-negative integer');
      }
      return {
        ok: true,
        frame: {
          type: 'resume',
          requestId: id,
          chatId: chatId.data,
          lastSequence: last as number | undefined,
        },
      };
    }
    case 'send': {
      if (json.body !== undefined && !isRecord(json.body)) return refuse(id, 'body: must be an object');
      // The app's `body` fields travel in `body`; the chat request is read as the HTTP body would be.
      const request = parseChatRequest({
        ...(json.body as Record<string, unknown> | undefined),
        id: json.id,
        messages: json.messages,
        trigger: json.trigger,
        messageId: json.messageId,
      });
      if (!request.ok) return refuse(id, request.message);
      return { ok: true, frame: { type: 'send', requestId: id, request: request.value } };
    }
    default:
      return refuse(id, 'type: must be "send", "resume" or "abort"');
  }
}

function refuse(
  requestId: string,
  errorText: string,
): { readonly ok: false; readonly error: AiSdkFrameError } {
  return { ok: false, error: { requestId, errorText } };
}

/** The server frames, as JSON text. */
export const aiSdkFrame = {
  start: (requestId: string): string => JSON.stringify({ type: 'start', requestId }),
  chunk: (requestId: string, sequence: number, chunk: UiMessageChunk): string =>
    JSON.stringify({ type: 'chunk', requestId, sequence, chunk }),
  end: (requestId: string): string => JSON.stringify({ type: 'end', requestId }),
  noActive: (requestId: string): string => JSON.stringify({ type: 'no-active', requestId }),
  error: (requestId: string, errorText: string): string =>
    JSON.stringify({ type: 'error', requestId, errorText }),
};
