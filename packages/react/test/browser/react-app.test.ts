import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser, launchChromium, skipBrowserTests } from '../../../../test/helpers/browser.js';
import { deferred } from '../../../../test/helpers/deferred.js';
import { type Harness, startGateway } from '../../../../test/helpers/gateway-harness.js';
import { metricValue } from '../../../../test/helpers/metric-value.js';
import { defineAgent } from '../../../server/src/agents/define-agent.js';

/**
 * @agentcast/react in a real Chromium, in StrictMode, against an in-process gateway running the demo
 * agent: one socket per page (or one for three pages with shareAcrossTabs), and every run rendered once,
 * complete and in order across a server-side drop and across the loss of the tab holding the socket.
 */

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const GOLDEN_PATH = [
  'agent_started',
  'agent_thinking',
  'tool_executing',
  'tool_completed',
  'agent_completed',
];
/**
 * Waits in the page, far below the test timeout. Generous: this app is React's development build under
 * StrictMode and redraws a run's whole event list for every event, so 400 tokens arriving at once keep the
 * page busy (and a click waiting for it) for over 10 s on two cores shared with other work.
 */
const PAGE_WAIT_MS = 30_000;
const HTML =
  '<!doctype html><meta charset="utf-8"><title>agentcast react</title><div id="root"></div><script type="module" src="/app.js"></script>';

/** Bundles test/browser/app with React's development build, where StrictMode double-mounts. */
async function bundleApp(): Promise<string> {
  return bundleForBrowser({
    entryPoints: [here('./app/main.tsx')],
    tsconfig: here('../../tsconfig.json'), // its "paths" resolve @agentcast/react and @agentcast/client
  });
}

interface PageServer {
  readonly server: Server;
  readonly origin: string;
  /** Token requests so far: one per client the pages created (the SDK caches its token across resumes). */
  readonly tokens: number;
}

/** Serves the page, its bundle and dev tokens (what an app's backend does) from a port of its own. */
async function servePage(app: string, gw: Harness): Promise<PageServer> {
  let tokens = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML);
    } else if (url.pathname === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(app);
    } else if (url.pathname === '/token') {
      tokens += 1;
      gw.token(url.searchParams.get('user') ?? 'react-user').then(
        (token) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token })),
        () => res.writeHead(500).end(),
      );
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get tokens() {
      return tokens;
    },
  };
}

interface Rendered {
  readonly runId: string;
  readonly status: string;
  readonly final: string;
  readonly text: string;
  readonly events: Array<{ seq: number; type: string }>;
  readonly tools: Array<{ name: string; open: string }>;
}

async function renderedRun(page: Page): Promise<Rendered> {
  const run = page.getByTestId('run');
  return {
    runId: (await run.getAttribute('data-run-id')) ?? '',
    status: (await run.getAttribute('data-status')) ?? '',
    final: (await run.getAttribute('data-final')) ?? '',
    text: (await run.getByTestId('text').textContent()) ?? '',
    events: await run
      .getByTestId('event')
      .evaluateAll((els) => els.map((el) => ({ seq: Number(el.dataset.seq), type: el.dataset.type ?? '' }))),
    tools: await run
      .getByTestId('tool')
      .evaluateAll((els) => els.map((el) => ({ name: el.dataset.name ?? '', open: el.dataset.open ?? '' }))),
  };
}

/** A run rendered once, complete and in order: seqs 1..head, golden path, text = the final answer. */
function expectComplete(run: Rendered, head: number, label: string): void {
  const seqs = run.events.map((e) => e.seq);
  expect(seqs, `${label}: every seq once, in order`).toEqual(Array.from({ length: head }, (_, i) => i + 1));
  const types = run.events.map((e) => e.type);
  for (const type of GOLDEN_PATH) expect(types, `${label}: a ${type}`).toContain(type);
  expect(
    types.filter((t) => t === 'agent_started'),
    label,
  ).toHaveLength(1);
  expect(types.at(-1), label).toBe('agent_completed');
  expect(run.status, label).toBe('succeeded');
  expect(run.final, label).toContain('17 * 23 = 391');
  expect(run.text, `${label}: chunks joined in order`).toBe(run.final);
  expect(run.tools, label).toEqual([
    { name: 'web_search', open: 'false' },
    { name: 'calculator', open: 'false' },
  ]);
}

/**
 * Calls `onFirst` in the test process the moment the page's client delivers the first event of `type`
 * (a CDP binding: no polling), so the test can act mid-run.
 */
async function onFirstEvent(page: Page, type: string, onFirst: () => void): Promise<void> {
  let fired = false;
  await page.exposeFunction('agentcastProbe', () => {
    if (fired) return;
    fired = true;
    onFirst();
  });
  await page.waitForFunction(() => window.agentcastClient !== undefined);
  await page.evaluate((t) => {
    const w = window as unknown as { agentcastProbe: () => void };
    window.agentcastClient?.on(t, () => w.agentcastProbe());
  }, type);
}

/** Counts, in each page, every WebSocket it constructs (connected or not) in `window.agentcastSockets`. */
async function countSockets(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const w = window as unknown as { agentcastSockets: number };
    w.agentcastSockets = 0;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        w.agentcastSockets += 1;
      }
    };
  });
}

const socketsOf = (page: Page) =>
  page.evaluate(() => (window as unknown as { agentcastSockets: number }).agentcastSockets);

function collectErrors(page: Page, into: string[]): void {
  page.on('pageerror', (error) => into.push(`${page.url()}: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') into.push(`${page.url()}: console: ${msg.text()}`);
  });
}

const opened = (gw: Harness) => metricValue(gw.gateway.metrics, 'agentcast_connections_opened_total');

describe.skipIf(skipBrowserTests())('@agentcast/react in Chromium', { timeout: 60_000 }, () => {
  let browser: Browser | undefined;
  let app = '';
  let gw: Harness | undefined;
  let page: PageServer | undefined;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    [browser, app] = await Promise.all([launchChromium(), bundleApp()]);
  });
  afterEach(async () => {
    await context?.close();
    page?.server.close();
    await gw?.close();
    context = undefined;
    page = undefined;
    gw = undefined;
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('StrictMode: one socket; a run cut by a server-side drop renders once, complete, in order; an event re-renders only its run', async () => {
    gw = await startGateway({ demoDelayMs: 150 });
    page = await servePage(app, gw);
    context = await (browser as Browser).newContext();
    await countSockets(context);
    const tab = await context.newPage();
    tab.setDefaultTimeout(PAGE_WAIT_MS);
    const errors: string[] = [];
    collectErrors(tab, errors);
    const user = 'strict-user';
    await tab.goto(`${page.origin}/?gw=${encodeURIComponent(gw.wsUrl)}&user=${user}`);
    await tab.locator('[data-testid=status][data-state=open][data-role=solo]').waitFor();
    // StrictMode mounted the provider twice; it made one client (one token fetch) and one socket.
    expect(await opened(gw), 'sockets the gateway accepted').toBe(1);
    expect(await socketsOf(tab), 'sockets the page constructed').toBe(1);
    expect(page.tokens, 'clients created (each fetches a token)').toBe(1);
    const before = await tab.evaluate(() => ({ ...window.agentcastCommits }));

    const cut: number[] = [];
    await onFirstEvent(tab, 'tool_executing', () => cut.push(gw?.gateway.disconnectUser(user) ?? 0));
    await tab.getByTestId('input').fill('What is 17 * 23?');
    await tab.getByTestId('send').click();
    await tab.locator('[data-testid=run][data-status=succeeded]').waitFor();

    expect(cut, 'the socket was cut mid-run').toEqual([1]);
    expect(await opened(gw), 'the first connection and one resume').toBe(2);
    expect(await socketsOf(tab)).toBe(2);
    expect(page.tokens, 'the same client resumed').toBe(1);
    await tab.locator('[data-testid=status][data-state=open]').waitFor();
    const { seq: head } = await gw.gateway.engine.head(user);
    const run = await renderedRun(tab);
    expectComplete(run, head, 'the page');

    const after = await tab.evaluate(() => ({ ...window.agentcastCommits }));
    // A run of ~20 events: the run view commits per event (batched by React), the rest do not.
    expect(after.run ?? 0).toBeGreaterThan((before.run ?? 0) + 5);
    expect(after['idle-run'], 'a useRun of another run never re-rendered').toBe(before['idle-run']);
    expect(
      after.composer! - before.composer!,
      'the composer re-rendered only for typing',
    ).toBeLessThanOrEqual('What is 17 * 23?'.length);
    // useAgentcast re-renders on state changes (open → reconnecting → open), not per event.
    expect(after.status! - before.status!).toBeLessThanOrEqual(3);
    expect(errors).toEqual([]);
  });

  it('shareAcrossTabs: three pages hold one socket; closing the leader moves it and every page still renders the run once, in order', async () => {
    gw = await startGateway({ demoDelayMs: 150 });
    page = await servePage(app, gw);
    context = await (browser as Browser).newContext();
    await countSockets(context);
    const user = 'shared-user';
    const url = `${page.origin}/?gw=${encodeURIComponent(gw.wsUrl)}&user=${user}&shared=1`;
    const errors: string[] = [];
    const pages: Page[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await context.newPage();
      p.setDefaultTimeout(PAGE_WAIT_MS);
      collectErrors(p, errors);
      await p.goto(url);
      await p.locator('[data-testid=status][data-state=open]').waitFor();
      pages.push(p);
    }
    const roles = await Promise.all(pages.map((p) => p.getByTestId('status').getAttribute('data-role')));
    expect([...roles].sort()).toEqual(['follower', 'follower', 'leader']);
    expect(await opened(gw), 'one socket for three pages').toBe(1);
    expect(gw.gateway.stats()).toMatchObject({ connections: 1 });
    expect(await Promise.all(pages.map(socketsOf))).toEqual(roles.map((r) => (r === 'leader' ? 1 : 0)));
    expect(page.tokens, 'only the leader made a client').toBe(1);

    const leader = pages[roles.indexOf('leader')] as Page;
    const followers = pages.filter((p) => p !== leader);
    const [sender, watcher] = followers as [Page, Page];
    // Close the leader's page the moment the first tool call reaches a follower: the run is mid-way.
    const closing: Array<Promise<void>> = [];
    await onFirstEvent(watcher, 'tool_executing', () => closing.push(leader.close()));
    await sender.getByTestId('input').fill('What is 17 * 23?');
    await sender.getByTestId('send').click(); // forwarded to the leader, which sends it
    await Promise.all(followers.map((p) => p.locator('[data-testid=run][data-status=succeeded]').waitFor()));

    expect(closing, 'the leader closed mid-run').toHaveLength(1);
    await closing[0];
    const newRoles = await Promise.all(
      followers.map((p) => p.getByTestId('status').getAttribute('data-role')),
    );
    expect([...newRoles].sort()).toEqual(['follower', 'leader']);
    expect(await opened(gw), 'the new leader opened the one new socket').toBe(2);
    expect(await Promise.all(followers.map(socketsOf))).toEqual(
      newRoles.map((r) => (r === 'leader' ? 1 : 0)),
    );
    expect(page.tokens).toBe(2);
    const { seq: head } = await gw.gateway.engine.head(user);
    const runs = await Promise.all(followers.map(renderedRun));
    for (const [i, run] of runs.entries()) expectComplete(run, head, `page ${i + 1}`);
    expect(runs[0]).toEqual(runs[1]);
    expect(errors).toEqual([]);
  });

  it('useRuns / useRun: a page opened mid-run renders the whole run so far from its snapshot, then the rest', async () => {
    const gate = deferred();
    const before = Array.from({ length: 400 }, (_, i) => `w${i} `);
    const after = Array.from({ length: 50 }, (_, i) => `v${i} `);
    const holding = defineAgent({
      name: 'hold',
      async *run() {
        for (const text of before) yield { type: 'stream_chunk', data: { text } };
        await gate.promise;
        for (const text of after) yield { type: 'stream_chunk', data: { text } };
      },
    });
    gw = await startGateway({}, { agents: [holding] });
    page = await servePage(app, gw);
    context = await (browser as Browser).newContext();
    const user = 'late-user';
    const url = `${page.origin}/?gw=${encodeURIComponent(gw.wsUrl)}&user=${user}&agent=hold`;
    const errors: string[] = [];
    const first = await context.newPage();
    first.setDefaultTimeout(PAGE_WAIT_MS);
    collectErrors(first, errors);
    await first.goto(url);
    await first.locator('[data-testid=status][data-state=open]').waitFor();
    await first.getByTestId('input').fill('count');
    await first.getByTestId('send').click();
    const soFar = before.join('');
    await first.locator('[data-testid=run] [data-testid=text]', { hasText: soFar.trim() }).waitFor();

    const late = await context.newPage();
    late.setDefaultTimeout(PAGE_WAIT_MS);
    collectErrors(late, errors);
    await late.goto(url);
    await late.locator('[data-testid=run][data-status=running]').waitFor();
    const caughtUp = await renderedRun(late);
    expect(caughtUp.text, 'the whole answer so far, at once').toBe(soFar);
    expect(caughtUp.events, 'no event of it was sent to this page').toEqual([]);

    gate.resolve();
    for (const p of [first, late]) await p.locator('[data-testid=run][data-status=succeeded]').waitFor();
    const [whole, rest] = await Promise.all([renderedRun(first), renderedRun(late)]);
    expect(rest.runId).toBe(whole.runId);
    expect(rest.text).toBe(before.join('') + after.join(''));
    expect(rest.text).toBe(whole.text);
    // Exactly the rest: the later chunks and the end, each once, in order.
    expect(rest.events.map((e) => e.type)).toEqual([...after.map(() => 'stream_chunk'), 'agent_completed']);
    expect(rest.events.map((e) => e.seq)).toEqual(whole.events.slice(-(after.length + 1)).map((e) => e.seq));
    expect(errors).toEqual([]);
  });
});
