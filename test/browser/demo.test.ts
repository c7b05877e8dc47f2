import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentcastClient } from '../../packages/client/src/index.js';
import { CloseCode } from '../../packages/server/src/protocol/close-codes.js';
import { launchChromium, skipBrowserTests } from '../helpers/browser.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';

/**
 * The demo page (src/demo/page) in a real Chromium against an in-process gateway (issue #6): a run is
 * cut mid-way by the server, and the page still shows every event of it exactly once.
 */

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const GOLDEN_PATH = [
  'agent_started',
  'agent_thinking',
  'tool_executing',
  'tool_completed',
  'agent_completed',
];
/** Waits in the page; generous for two shared cores, far below the test timeout. */
const PAGE_WAIT_MS = 10_000;

/** What the page's client reported through `window.agentcastDemo`, pushed to the test as it happens. */
interface PageProbe {
  readonly clientErrors: string[];
  readonly pageErrors: string[];
  /** Resolves with `onFirst(type)`'s result as soon as the page has drawn the first event of `type`. */
  firstDrawn<T>(type: string, onFirst: () => T): Promise<T>;
  /** Runs `step`, failing at once if the page's client reports an error or the page throws meanwhile. */
  step<T>(what: string, step: Promise<T>): Promise<T>;
}

/**
 * Hooks into the page's client: errors and drawn events reach the test through a CDP binding the moment
 * they happen, so the test can act mid-run without polling the DOM.
 */
async function probe(page: Page): Promise<PageProbe> {
  const clientErrors: string[] = [];
  const pageErrors: string[] = [];
  const drawn = new Map<string, () => void>();
  let fail: ((error: Error) => void) | undefined;
  const report = (list: string[], message: string): void => {
    list.push(message);
    fail?.(new Error(message));
  };
  page.on('pageerror', (error) => report(pageErrors, `page error: ${error.message}`));
  await page.exposeFunction('agentcastProbe', (kind: 'error' | 'event', text: string) => {
    if (kind === 'error') report(clientErrors, `client error: ${text}`);
    else drawn.get(text)?.();
  });
  await page.evaluate(() => {
    const w = globalThis as unknown as {
      agentcastDemo: AgentcastClient;
      agentcastProbe: (kind: 'error' | 'event', text: string) => void;
    };
    w.agentcastDemo.onLifecycle('error', (e) => w.agentcastProbe('error', `${e.code}: ${e.message}`));
    // Subscribed after the page's own '*' handler, so the event is already in the DOM when this runs.
    w.agentcastDemo.on('*', (e) => w.agentcastProbe('event', e.type));
  });
  return {
    clientErrors,
    pageErrors,
    firstDrawn: (type, onFirst) =>
      new Promise((resolve) => {
        drawn.set(type, () => {
          drawn.delete(type);
          resolve(onFirst());
        });
      }),
    async step(what, step) {
      const failed = new Promise<never>((_, reject) => {
        fail = (error) => reject(new Error(`${what}: ${error.message}`));
      });
      try {
        return await Promise.race([step, failed]);
      } finally {
        fail = undefined;
      }
    },
  };
}

describe.skipIf(skipBrowserTests())('demo page in Chromium', () => {
  let browser: Browser | undefined;
  let gw: Harness | undefined;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterEach(async () => {
    await context?.close();
    await gw?.close();
    context = undefined;
    gw = undefined;
  });
  afterAll(async () => {
    await browser?.close();
  });

  it.each([
    { code: CloseCode.ServiceRestart, label: '1012 (restart)', query: '', screenshot: 'demo-run.png' },
    {
      code: CloseCode.InternalError,
      label: '1011 (internal error)',
      query: '',
      screenshot: 'demo-run-1011.png',
    },
    // docs/protocol.md F: the same run over Server-Sent Events, read by the SDK's fetch path and by
    // Chromium's own EventSource (with a ticket); the cut ends the stream with STREAM_CLOSED.
    {
      code: CloseCode.ServiceRestart,
      label: '1012 over SSE (fetch)',
      query: '?transport=sse',
      screenshot: 'demo-run-sse.png',
    },
    {
      code: CloseCode.ServiceRestart,
      label: '1012 over SSE (EventSource)',
      query: '?transport=sse&sse=eventsource',
      screenshot: 'demo-run-eventsource.png',
    },
  ])(
    'renders a run cut by $label exactly once, complete, with the answer',
    async ({ code, query, screenshot }) => {
      gw = await startGateway({ demo: true, demoDelayMs: 150 });
      context = await (browser as Browser).newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      page.setDefaultTimeout(PAGE_WAIT_MS);
      const streams: string[] = [];
      page.on('request', (req) => {
        if (new URL(req.url()).pathname === '/v1/events') streams.push(req.url());
      });
      await page.goto(`${gw.httpUrl}/${query}`);
      await page.locator('[data-testid=state-badge][data-state=open]').waitFor();
      const { step, firstDrawn, pageErrors, clientErrors } = await probe(page);

      // Cut the moment the first tool call is drawn, from the test process: the run is still going.
      const cut = firstDrawn('tool_executing', () => ({
        runsActive: gw?.gateway.runtime.activeRuns(),
        closed: gw?.gateway.disconnectUser('demo', code),
      }));
      await page.getByTestId('message-input').fill('What is 17 * 23?');
      await page.getByTestId('send-button').click();
      expect(await step('the first tool call', cut)).toEqual({ runsActive: 1, closed: 1 });
      await step(
        'the resume notice',
        page.getByTestId('notice').filter({ hasText: 'Reconnected: resumed after seq' }).waitFor(),
      );
      await step(
        'the finished answer',
        page.locator('[data-testid=answer][data-status=succeeded]').waitFor(),
      );

      const head = await gw.gateway.engine.head('demo');
      const drawn = await page
        .getByTestId('event')
        .evaluateAll((els) => els.map((el) => ({ seq: Number(el.dataset.seq), type: el.dataset.type })));
      const seqs = drawn.map((d) => d.seq);
      expect(new Set(seqs).size, 'no event drawn twice').toBe(seqs.length);
      expect(seqs, 'every seq of the run, in order').toEqual(
        Array.from({ length: head.seq }, (_, i) => i + 1),
      );
      const types = drawn.map((d) => d.type);
      for (const type of GOLDEN_PATH) expect(types, `a ${type} line`).toContain(type);
      expect(types.filter((t) => t === 'agent_started')).toHaveLength(1);
      expect(types.filter((t) => t === 'agent_completed')).toHaveLength(1);
      expect(types.at(-1)).toBe('agent_completed');
      await expect(page.getByTestId('answer').textContent()).resolves.toContain('17 * 23 = 391');
      await expect(page.getByTestId('answer').count()).resolves.toBe(1);
      expect(await page.getByTestId('state-badge').getAttribute('data-state')).toBe('open');
      expect(pageErrors).toEqual([]);
      expect(clientErrors).toEqual([]);
      // The transport asked for carried the run: a stream before the cut and a resumed one after it.
      if (query === '') expect(streams).toEqual([]);
      else expect(streams.length).toBeGreaterThanOrEqual(2);
      if (query.includes('eventsource')) for (const url of streams) expect(url).toContain('ticket=t_');

      // Tall enough for the whole run, so the picture shows it from start to finish without scrolling.
      await page.setViewportSize({ width: 1280, height: 1000 });
      await page.getByTestId('timeline').evaluate((list) => list.scrollTo(0, 0));
      await page.screenshot({ path: `${ARTIFACTS}${screenshot}` });
    },
  );
});
