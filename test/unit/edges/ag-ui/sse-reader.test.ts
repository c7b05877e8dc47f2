import { describe, expect, it } from 'vitest';
import { readSse } from '../../../../packages/ag-ui/src/sse-reader.js';

// The SSE reader of @agentcast/ag-ui (WHATWG "Server-sent events"): whole events only, id kept.

/** A response whose body arrives in the given pieces. */
function responseOf(...pieces: string[]): Response {
  const bytes = new TextEncoder();
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) controller.enqueue(bytes.encode(piece));
        controller.close();
      },
    }),
  );
}

async function all(response: Response) {
  const frames = [];
  for await (const frame of readSse(response)) frames.push(frame);
  return frames;
}

describe('readSse', () => {
  it('reads ids and data split anywhere, CRLF or LF, with comments, other fields and multi-line data', async () => {
    const frames = await all(
      responseOf(
        ': ping\n\nretry: 10\n\nid: e:1\r\ndata: {"type":"RUN_STA',
        'RTED"}\r\n\r\nevent: x\ndata:{"type":"CUSTOM",\ndata: "name":"n"}\n\n',
        'id: e:2\ndata: {"type":"RUN_FINISHED"}\n\nid: e:3\ndata: {"type":"cut mid-ev',
      ),
    );
    expect(frames).toEqual([
      { id: 'e:1', event: { type: 'RUN_STARTED' } },
      { id: 'e:1', event: { type: 'CUSTOM', name: 'n' } },
      { id: 'e:2', event: { type: 'RUN_FINISHED' } },
    ]);
  });

  it('gives nothing for a response without a body', async () => {
    expect(await all(new Response(null, { status: 204 }))).toEqual([]);
  });
});
