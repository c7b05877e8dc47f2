import type { BaseEvent } from '@ag-ui/client';

/** One frame of an AG-UI SSE stream: its `id:` (`<epoch>:<seq>`, the gateway's position) and event. */
export interface SseFrame {
  readonly id: string | undefined;
  readonly event: BaseEvent;
}

/**
 * The frames of an SSE response body (WHATWG "Server-sent events"): `id:` and `data:` fields, events
 * ended by a blank line, comments and other fields ignored. Only whole events are given: a cut mid-event
 * drops its part, and the resume asks for it again.
 */
export async function* readSse(response: Response): AsyncGenerator<SseFrame> {
  const body = response.body;
  if (body === null) return;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (;;) {
        const end = /\r?\n\r?\n/.exec(buffer);
        if (end === null) break;
        const block = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end[0].length);
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
          else if (line.startsWith('id:')) id = line.slice(line[3] === ' ' ? 4 : 3);
        }
        if (data.length > 0) yield { id, event: JSON.parse(data.join('\n')) as BaseEvent };
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
