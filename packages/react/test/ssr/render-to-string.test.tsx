import type { WebSocketLike } from '@agentcast/client';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AgentcastProvider,
  useAgentcast,
  useAnswerApproval,
  useApprovals,
  useEvents,
  useRun,
  useSendMessage,
} from '../../src/index.js';

/** Records every socket anyone tries to open. */
const opened: string[] = [];
class RecordingWebSocket implements WebSocketLike {
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  constructor(url: string) {
    opened.push(url);
  }
  send(): void {}
  close(): void {}
}

function Status() {
  const { state, client, role, lastSeq } = useAgentcast();
  return (
    <p data-state={state} data-client={client === undefined ? 'none' : 'some'} data-role={role ?? 'none'}>
      {state} at {lastSeq}
    </p>
  );
}

function Timeline() {
  const events = useEvents();
  const chunks = useEvents('stream_chunk');
  return (
    <ol data-events={events.length} data-chunks={chunks.length}>
      {events.map((e) => (
        <li key={e.seq}>{e.type}</li>
      ))}
    </ol>
  );
}

function Run() {
  const run = useRun('r1');
  const none = useRun(undefined);
  const { send } = useSendMessage();
  const approvals = useApprovals();
  const answer = useAnswerApproval();
  return (
    <section
      data-status={run.status}
      data-none={none.status}
      data-can-send={typeof send}
      data-approvals={approvals.length}
      data-can-answer={typeof answer}
    >
      {run.text}
    </section>
  );
}

function App({ shareAcrossTabs }: { shareAcrossTabs: boolean }) {
  return (
    <AgentcastProvider
      url="ws://127.0.0.1:9/ws"
      getToken={getToken}
      WebSocket={RecordingWebSocket}
      shareAcrossTabs={shareAcrossTabs}
    >
      <Status />
      <Timeline />
      <Run />
    </AgentcastProvider>
  );
}

const getToken = vi.fn(() => 'token');

describe('server rendering', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    opened.length = 0;
    getToken.mockClear();
  });

  it.each([false, true])(
    'opens no socket, touches no browser API and renders the initial state (shareAcrossTabs %s)',
    (shareAcrossTabs) => {
      // What a server has: no window. Anything that reaches for tabs or sockets is recorded.
      expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
      const locks = { request: vi.fn() };
      const channels: string[] = [];
      vi.stubGlobal('navigator', { locks });
      vi.stubGlobal(
        'BroadcastChannel',
        class {
          constructor(name: string) {
            channels.push(name);
          }
        },
      );
      vi.stubGlobal(
        'WebSocket',
        class extends RecordingWebSocket {
          constructor(url: string) {
            super(`global:${url}`);
          }
        },
      );

      const html = renderToString(<App shareAcrossTabs={shareAcrossTabs} />);

      expect(opened).toEqual([]);
      expect(getToken).not.toHaveBeenCalled();
      expect(locks.request).not.toHaveBeenCalled();
      expect(channels).toEqual([]);
      expect(html).toContain('data-state="connecting"');
      expect(html).toContain('data-client="none"');
      expect(html).toContain('data-role="none"');
      expect(html).toContain('data-events="0"');
      expect(html).toContain('data-chunks="0"');
      expect(html).toContain('data-status="pending"');
      expect(html).toContain('data-none="pending"');
      expect(html).toContain('data-can-send="function"');
      expect(html).toContain('data-approvals="0"');
      expect(html).toContain('data-can-answer="function"');
    },
  );

  it('tells which hook was used outside a provider', () => {
    expect(() => renderToString(<Status />)).toThrow(
      'useAgentcast() must be used inside <AgentcastProvider>',
    );
  });
});
