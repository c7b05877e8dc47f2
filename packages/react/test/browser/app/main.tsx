/**
 * The page of the browser test: a small chat built only on @agentcast/react's public API, rendered in
 * StrictMode. Query: `gw` (the gateway's ws URL), `user`, `shared=1` for shareAcrossTabs, `agent` (default
 * `demo`). Stable hooks for
 * the test: data-testid `status` (data-state, data-role), `input`, `send`, `run` (data-run-id,
 * data-status, data-final), `event` (data-seq, data-type), `text`, `tool`, `idle-run`. Commits per
 * component are counted in `window.agentcastCommits`; the client is `window.agentcastClient`.
 */
import {
  type AgentcastClientLike,
  AgentcastProvider,
  useAgentcast,
  useEvents,
  useRun,
  useRuns,
  useSendMessage,
} from '@agentcast/react';
import { memo, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

declare global {
  interface Window {
    agentcastCommits: Record<string, number>;
    agentcastClient?: AgentcastClientLike;
  }
}

window.agentcastCommits = {};

/** Counts commits (not StrictMode's discarded renders) of a component. */
function useCommitCounter(name: string): void {
  useEffect(() => {
    window.agentcastCommits[name] = (window.agentcastCommits[name] ?? 0) + 1;
  });
}

const params = new URLSearchParams(location.search);
const user = params.get('user') ?? 'react-user';
const agent = params.get('agent') ?? 'demo';

async function getToken(): Promise<string> {
  const res = await fetch(`/token?user=${encodeURIComponent(user)}`);
  const body = (await res.json()) as { token: string };
  return body.token;
}

function Status() {
  useCommitCounter('status');
  const { state, role, client } = useAgentcast();
  useEffect(() => {
    window.agentcastClient = client;
  }, [client]);
  return (
    <p data-testid="status" data-state={state} data-role={role ?? 'none'}>
      {state} ({role ?? 'no client'})
    </p>
  );
}

function Composer() {
  useCommitCounter('composer');
  const { send } = useSendMessage();
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        send(text, { agent }).catch((err: unknown) => setError(String(err)));
      }}
    >
      <input data-testid="input" value={text} onChange={(e) => setText(e.target.value)} />
      <button data-testid="send" type="submit">
        Send
      </button>
      {error === '' ? null : <p data-testid="send-error">{error}</p>}
    </form>
  );
}

/** memo: a parent's re-render (a new run started) does not count against a run's own re-renders. */
const Run = memo(function Run({ runId, testId }: { runId: string | undefined; testId: string }) {
  useCommitCounter(testId);
  const run = useRun(runId);
  return (
    <section
      data-testid={testId}
      data-run-id={run.runId}
      data-status={run.status}
      data-final={run.finalResponse ?? ''}
    >
      <ol>
        {run.events.map((e) => (
          <li key={`${e.epoch}:${e.seq}`} data-testid="event" data-seq={e.seq} data-type={e.type}>
            {e.type}
          </li>
        ))}
      </ol>
      <ul>
        {run.tools.map((t) => (
          <li key={t.executionId} data-testid="tool" data-name={t.name} data-open={String(t.open)}>
            {t.name}: {t.success === undefined ? '…' : t.success ? 'ok' : 'failed'}
          </li>
        ))}
      </ul>
      <p data-testid="text">{run.text}</p>
    </section>
  );
});

/**
 * Every tab shows the latest run, whichever tab started it: the most recently active of the client's runs
 * (a tab opened mid-run has it from its snapshot, without its agent_started), else the last one started.
 */
function LatestRun() {
  const runs = useRuns();
  const started = useEvents('agent_started');
  return <Run runId={runs.at(-1)?.run_id ?? started.at(-1)?.run_id} testId="run" />;
}

function App() {
  useCommitCounter('app');
  return (
    <main>
      <Status />
      <Composer />
      <LatestRun />
      <Run runId="r_nobody" testId="idle-run" />
    </main>
  );
}

const root = document.getElementById('root');
if (root === null) throw new Error('no #root');
createRoot(root).render(
  <StrictMode>
    <AgentcastProvider
      url={params.get('gw') ?? ''}
      getToken={getToken}
      shareAcrossTabs={params.get('shared') === '1'}
    >
      <App />
    </AgentcastProvider>
  </StrictMode>,
);
