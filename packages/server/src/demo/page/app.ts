/**
 * The demo page: a chat box and a live timeline of the demo agent's runs, over the client SDK.
 * Served by the gateway at `/` with `--demo`; gets a short-lived dev token from `GET /demo/token` and
 * connects to `ws(s)://<host>/ws`. Page URL options: `?agent=<name>` picks an agent, `?user=<id>` asks
 * /demo/token for another user (two tabs, two users).
 */
import { type AgentcastClient, type ClientState, connect } from '@agentcast/client';
import { ChatView } from './chat-view.js';
import { TimelineView } from './timeline-view.js';

/** How long the "disconnect" button keeps the socket closed. */
const OUTAGE_MS = 5_000;

function byTestId<T extends HTMLElement>(id: string): T {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (el === null) throw new Error(`index.html lacks data-testid="${id}"`);
  return el;
}

async function fetchDemoToken(user: string | null): Promise<string> {
  const query = user === null ? '' : `?user=${encodeURIComponent(user)}`;
  const res = await fetch(`/demo/token${query}`, {
    cache: 'no-store',
    headers: { accept: 'application/json' },
  });
  if (!res.ok) throw new Error(`GET /demo/token answered ${res.status}`);
  const body: unknown = await res.json();
  if (typeof body !== 'object' || body === null || !('token' in body) || typeof body.token !== 'string') {
    throw new Error('GET /demo/token: expected {"token": "..."}');
  }
  return body.token;
}

const STATE_LABEL: Record<ClientState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Closed',
};

function start(): AgentcastClient {
  const badge = byTestId<HTMLSpanElement>('state-badge');
  const position = byTestId<HTMLSpanElement>('position');
  const status = byTestId<HTMLParagraphElement>('status');
  const input = byTestId<HTMLInputElement>('message-input');
  const form = byTestId<HTMLFormElement>('composer');
  const outage = byTestId<HTMLButtonElement>('disconnect-button');
  const timeline = new TimelineView(byTestId<HTMLOListElement>('timeline'));
  const chat = new ChatView(byTestId<HTMLOListElement>('messages'));
  const params = new URLSearchParams(location.search);
  const agent = params.get('agent') ?? undefined;
  const user = params.get('user');

  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const client = connect({ url: `${scheme}://${location.host}/ws`, getToken: () => fetchDemoToken(user) });
  const showPosition = () => {
    position.textContent = `epoch ${client.epoch ?? '–'} · seq ${client.lastSeq}`;
  };
  let welcomes = 0;

  client.onLifecycle('statechange', ({ state }) => {
    badge.textContent = STATE_LABEL[state];
    badge.dataset.state = state;
    if (state === 'open') status.textContent = '';
  });
  client.onLifecycle('welcome', (welcome) => {
    welcomes += 1;
    if (welcomes > 1 && welcome.resume === 'ok') {
      const missed = Math.max(0, welcome.seq - client.lastSeq);
      timeline.notice(`Reconnected: resumed after seq ${client.lastSeq}, ${missed} missed event(s) replayed`);
    }
    if (welcomes > 1 && welcome.resume === 'snapshot') {
      timeline.notice('Reconnected past the history: the chat caught up from run snapshots', 'warn');
    }
    showPosition();
  });
  client.onLifecycle('reset', ({ reason }) => {
    timeline.notice(`History reset (${reason}): events before this line may be missing`, 'warn');
  });
  client.onLifecycle('disconnect', ({ code, reason, retryInMs }) => {
    const retry = retryInMs === undefined ? 'not retrying' : `retrying in ${(retryInMs / 1000).toFixed(1)} s`;
    status.textContent = `Connection closed (${reason === '' ? code : `${code}: ${reason}`}), ${retry}.`;
  });
  client.onLifecycle('error', (error) => {
    status.textContent = error.message;
  });
  client.on('*', (ev) => {
    timeline.add(ev);
    showPosition();
  });
  // The chat is drawn from the client's runs: a tab opened mid-run starts from each run's snapshot.
  client.onRun((run) => chat.render(run));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (text === '') return;
    input.value = '';
    const pending = chat.addUserMessage(text);
    client.sendMessage(text, agent === undefined ? {} : { agent }).then(
      (ack) => pending.acked(ack.runId, ack.duplicate),
      (error: unknown) => pending.failed(error instanceof Error ? error.message : String(error)),
    );
  });

  outage.addEventListener('click', () => {
    // Honest outage: the socket is closed now and stays closed for OUTAGE_MS; then the SDK resumes.
    client.reconnect({ delayMs: OUTAGE_MS });
    timeline.notice(`Disconnected on purpose for ${OUTAGE_MS / 1000} s`);
    outage.disabled = true;
    const until = Date.now() + OUTAGE_MS;
    const tick = () => {
      const left = until - Date.now();
      if (left <= 0) {
        outage.disabled = false;
        outage.textContent = 'Disconnect for 5 s';
        return;
      }
      outage.textContent = `Offline… ${Math.ceil(left / 1000)} s`;
      setTimeout(tick, 250);
    };
    tick();
  });

  return client;
}

/** Exposed for debugging and for the browser test (e.g. `agentcastDemo.lastSeq`). */
(globalThis as { agentcastDemo?: AgentcastClient }).agentcastDemo = start();
