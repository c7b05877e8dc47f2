/**
 * The demo page: a chat box and a live timeline of the demo agent's runs, over the client SDK.
 * Served by the gateway at `/` with `--demo`; gets a short-lived dev token from `GET /demo/token` and
 * connects to `ws(s)://<host>/ws`. Page URL options: `?agent=<name>` picks an agent, `?user=<id>` asks
 * /demo/token for another user (two tabs, two users).
 */
import { type AgentcastClient, type ClientState, connect } from '@agentcast/client';
import { ChatView } from './chat-view.js';
import { messageTooLong } from './message-size.js';
import { TimelineView } from './timeline-view.js';

/** How long the "disconnect" button keeps the socket closed. */
const OUTAGE_MS = 5_000;

function byTestId<T extends HTMLElement>(id: string): T {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (el === null) throw new Error(`index.html lacks data-testid="${id}"`);
  return el;
}

/** What `GET /demo/token` answers (docs/client.md, "Demo page"). */
interface DemoToken {
  readonly token: string;
  /** The agent that answers messages naming none (`--default-agent`). */
  readonly defaultAgent: string | undefined;
}

async function fetchDemoToken(user: string | null): Promise<DemoToken> {
  const query = user === null ? '' : `?user=${encodeURIComponent(user)}`;
  const res = await fetch(`/demo/token${query}`, {
    cache: 'no-store',
    headers: { accept: 'application/json' },
  });
  if (!res.ok) throw new Error(`GET /demo/token answered ${res.status}: ${await errorMessage(res)}`);
  const body: unknown = await res.json();
  if (typeof body !== 'object' || body === null || !('token' in body) || typeof body.token !== 'string') {
    throw new Error('GET /demo/token: expected {"token": "..."}');
  }
  const agent =
    'default_agent' in body && typeof body.default_agent === 'string' ? body.default_agent : undefined;
  return { token: body.token, defaultAgent: agent };
}

/** The `error.message` of a JSON error body (docs/protocol.md §8), or the status text. */
async function errorMessage(res: Response): Promise<string> {
  // A body that is not JSON (a proxy's error page) leaves the status text to show.
  const body: unknown = await res.json().catch(() => null);
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const { error } = body;
    if (
      typeof error === 'object' &&
      error !== null &&
      'message' in error &&
      typeof error.message === 'string'
    ) {
      return error.message;
    }
  }
  return res.statusText;
}

/**
 * The input's hint: for the demo agent, what it answers (arithmetic) and the email it asks approval for
 * (docs/agents.md); any other agent: its name.
 */
function placeholderFor(agent: string): string {
  return agent === 'demo' ? 'Try: what is 6 times 7? Or: email bob the plan' : `Message the ${agent} agent`;
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
  const inputError = byTestId<HTMLParagraphElement>('input-error');
  const form = byTestId<HTMLFormElement>('composer');
  const outage = byTestId<HTMLButtonElement>('disconnect-button');
  const timeline = new TimelineView(byTestId<HTMLOListElement>('timeline'));
  const params = new URLSearchParams(location.search);
  const agent = params.get('agent') ?? undefined;
  const user = params.get('user');

  // ?transport=sse (or websocket) pins the transport; ?sse=eventsource reads SSE with EventSource and a
  // ticket instead of fetch (docs/client.md, "Server-Sent Events").
  const transport = params.get('transport');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const getToken = async (): Promise<string> => {
    const { token, defaultAgent } = await fetchDemoToken(user);
    const answering = agent ?? defaultAgent;
    if (answering !== undefined) input.placeholder = placeholderFor(answering);
    return token;
  };
  const client = connect({
    url: `${scheme}://${location.host}/ws`,
    getToken,
    transport: transport === 'sse' || transport === 'websocket' ? transport : 'auto',
    ...(params.get('sse') === 'eventsource' ? { sseVia: 'eventsource' as const } : {}),
  });
  const chat = new ChatView(byTestId<HTMLOListElement>('messages'), {
    stop: (runId) => client.cancel(runId),
    answer: (approvalId, decision) => client.answerApproval(approvalId, decision),
  });
  const showPosition = () => {
    position.textContent = `epoch ${client.epoch ?? '–'} · seq ${client.lastSeq}`;
  };
  let welcomes = 0;
  /** The last client error until the connection opens again: a closed line must not hide its reason. */
  let lastError = '';

  client.onLifecycle('statechange', ({ state }) => {
    badge.textContent = STATE_LABEL[state];
    badge.dataset.state = state;
    if (state === 'open') {
      status.textContent = '';
      lastError = '';
    }
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
    const closed = `Connection closed (${reason === '' ? code : `${code}: ${reason}`}), ${retry}.`;
    status.textContent = lastError === '' ? closed : `${closed} ${lastError}`;
  });
  client.onLifecycle('error', (error) => {
    // A failed token fetch carries the gateway's reason as its cause: show it, it says what to do.
    const { cause } = error;
    lastError = cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
    status.textContent = lastError;
  });
  client.on('*', (ev) => {
    timeline.add(ev);
    showPosition();
  });
  // The chat is drawn from the client's runs: a tab opened mid-run starts from each run's snapshot.
  client.onRun((run) => chat.render(run));

  /** Shows why the text cannot be sent, under the input; returns whether it can. */
  const checkLength = (): boolean => {
    const problem = messageTooLong(input.value);
    inputError.textContent = problem ?? '';
    inputError.hidden = problem === undefined;
    input.setAttribute('aria-invalid', String(problem !== undefined));
    return problem === undefined;
  };
  input.addEventListener('input', () => checkLength());

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    // Refused here, with the text left in the input to shorten, never as a huge failed bubble.
    if (text === '' || !checkLength()) return;
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
