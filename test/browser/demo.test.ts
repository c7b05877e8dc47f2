import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentcastClient } from '../../packages/client/src/index.js';
import { defineAgent } from '../../packages/server/src/agents/define-agent.js';
import { CloseCode } from '../../packages/server/src/protocol/close-codes.js';
import { ARTIFACTS, skipBrowserTests, useChromium } from '../helpers/browser.js';
import { deferred } from '../helpers/deferred.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';

/**
 * The demo page (src/demo/page) in a real Chromium against an in-process gateway (issue #6): a run is
 * cut mid-way by the server, and the page still shows every event of it exactly once. Issue 21: Stop
 * cancels the running run, the chat follows a long answer (and leaves a reader who scrolled up alone),
 * concurrent runs are labelled, the hint fits the agent, and a too-long message is refused at the input.
 */

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
  let gw: Harness | undefined;
  let context: BrowserContext | undefined;
  afterEach(async () => {
    await gw?.close();
    context = undefined;
    gw = undefined;
  });
  // After the gateway's afterEach: hooks run last-registered first, so pages close before the gateway.
  const chromium = useChromium();

  /** A fresh page on `url`, connected (its client open); `onPage` sees it before it loads. */
  async function openPage(url: string, onPage?: (page: Page) => void): Promise<Page> {
    context = await chromium.context();
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_WAIT_MS);
    onPage?.(page);
    await page.goto(url);
    await page.locator('[data-testid=state-badge][data-state=open]').waitFor();
    return page;
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.getByTestId('message-input').fill(text);
    await page.getByTestId('send-button').click();
  }

  it.each([
    { code: CloseCode.ServiceRestart, label: '1012 (restart)', query: '', screenshot: 'demo-run.png' },
    {
      code: CloseCode.InternalError,
      label: '1011 (internal error)',
      query: '',
      screenshot: 'demo-run-1011.png',
    },
    // docs/protocol.md H: the same run over Server-Sent Events, read by the SDK's fetch path and by
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
      gw = await startGateway({ demo: true, demoTokens: true, demoDelayMs: 150 });
      const streams: string[] = [];
      const page = await openPage(`${gw.httpUrl}/${query}`, (p) =>
        p.on('request', (req) => {
          if (new URL(req.url()).pathname === '/v1/events') streams.push(req.url());
        }),
      );
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

  it('stops the running run with its Stop button: the answer ends cancelled and the button goes', async () => {
    // An agent that thinks once and then works until it is cancelled: only Stop can end its run.
    const endless = defineAgent({
      name: 'endless',
      async *run(_input, ctx) {
        yield { type: 'agent_thinking', data: { reasoning: 'working until stopped' } };
        await new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      },
    });
    gw = await startGateway({ demo: true, demoTokens: true }, { agents: [endless] });
    const page = await openPage(`${gw.httpUrl}/?agent=endless`);
    const { step, firstDrawn, pageErrors, clientErrors } = await probe(page);
    const thinking = firstDrawn('agent_thinking', () => gw?.gateway.runtime.activeRuns());
    await send(page, 'keep going');
    expect(await step('the run working', thinking)).toBe(1);
    const answer = page.getByTestId('answer');
    await step('the Stop click', answer.getByTestId('stop-button').click());
    await step('the cancelled answer', page.locator('[data-testid=answer][data-status=cancelled]').waitFor());
    await expect(answer.getByTestId('stop-button').count()).resolves.toBe(0);
    expect(gw.gateway.runtime.activeRuns()).toBe(0);
    await expect(page.locator('[data-testid=event][data-type=agent_completed]').count()).resolves.toBe(1);
    expect(pageErrors).toEqual([]);
    expect(clientErrors).toEqual([]);
  });

  it('follows a long answer while at the bottom, and leaves a reader who scrolled up where they are', async () => {
    const halfway = deferred();
    const lines = (from: number) =>
      Array.from({ length: 60 }, (_, i) => `line ${from + i} of a long answer\n`);
    const long = defineAgent({
      name: 'long',
      async *run() {
        for (const text of lines(1)) yield { type: 'stream_chunk', data: { text } };
        yield { type: 'agent_thinking', data: { reasoning: 'halfway' } };
        await halfway.promise;
        for (const text of lines(61)) yield { type: 'stream_chunk', data: { text } };
        // Returning ends the run succeeded, with what it streamed as final_response.
      },
    });
    gw = await startGateway({ demo: true, demoTokens: true }, { agents: [long] });
    const page = await openPage(`${gw.httpUrl}/?agent=long`);
    const { step, firstDrawn } = await probe(page);
    const messages = page.getByTestId('messages');
    const position = () =>
      messages.evaluate((el) => ({
        top: el.scrollTop,
        bottomGap: el.scrollHeight - el.scrollTop - el.clientHeight,
      }));

    const atHalfway = firstDrawn('agent_thinking', () => undefined);
    await send(page, 'tell me everything');
    await step('the first 60 lines', atHalfway);
    const followed = await position();
    expect(followed.top, 'the list scrolled with the answer').toBeGreaterThan(0);
    expect(followed.bottomGap, 'the newest line is in view').toBeLessThanOrEqual(1);

    await messages.evaluate((el) => el.scrollTo(0, 0));
    halfway.resolve();
    await step('the finished answer', page.locator('[data-testid=answer][data-status=succeeded]').waitFor());
    await expect(page.getByTestId('answer').textContent()).resolves.toContain('line 120 of a long answer');
    expect((await position()).top, 'a reader who scrolled up is not pulled down').toBe(0);

    // Back at the bottom, the next answer is followed again.
    await messages.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await send(page, 'and again');
    await step(
      'the second answer',
      page.locator('[data-testid=answer][data-status=succeeded] >> nth=1').waitFor(),
    );
    expect((await position()).bottomGap).toBeLessThanOrEqual(1);
  });

  it('labels every timeline entry with its run, so two concurrent runs stay apart', async () => {
    gw = await startGateway({ demo: true, demoTokens: true, demoDelayMs: 100 });
    const page = await openPage(`${gw.httpUrl}/`);
    const { step } = await probe(page);
    await send(page, 'What is 6 times 7?');
    await send(page, 'What is seven plus five?');
    await step(
      'both answers',
      page.locator('[data-testid=answer][data-status=succeeded] >> nth=1').waitFor(),
    );
    const entries = await page
      .locator('[data-testid=timeline] > li:has([data-testid=run-label])')
      .evaluateAll((els) =>
        els.map((el) => ({
          label: el.querySelector('[data-testid=run-label]')?.textContent ?? '',
          runId:
            el.querySelector('[data-run-id]')?.getAttribute('data-run-id') ??
            el.getAttribute('data-run-id') ??
            '',
        })),
      );
    const labelOf = new Map<string, Set<string>>();
    for (const { label, runId } of entries) labelOf.set(runId, (labelOf.get(runId) ?? new Set()).add(label));
    expect(labelOf.size).toBe(2);
    expect([...labelOf.values()].map((labels) => [...labels])).toEqual([['run 1'], ['run 2']]);
    const answers = await page.getByTestId('answer').allTextContents();
    expect(answers.some((a) => a.includes('6 * 7 = 42.'))).toBe(true);
    expect(answers.some((a) => a.includes('7 + 5 = 12.'))).toBe(true);
  });

  it('hints at arithmetic for the demo agent and names any other agent', async () => {
    gw = await startGateway({ demo: true, demoTokens: true });
    let page = await openPage(`${gw.httpUrl}/`);
    await expect(page.getByTestId('message-input').getAttribute('placeholder')).resolves.toBe(
      'Try: what is 6 times 7? Or: email bob the plan',
    );
    await context?.close();
    await gw.close();
    const echo = defineAgent({
      name: 'echo',
      async *run(input) {
        yield { type: 'agent_completed', data: { status: 'succeeded', final_response: input.text } };
      },
    });
    gw = await startGateway({ demo: true, demoTokens: true, defaultAgent: 'echo' }, { agents: [echo] });
    page = await openPage(`${gw.httpUrl}/`);
    await expect(page.getByTestId('message-input').getAttribute('placeholder')).resolves.toBe(
      'Message the echo agent',
    );
  });

  it('refuses a message too long for one frame at the input, keeping the text, and sends once it fits', async () => {
    gw = await startGateway({ demo: true, demoTokens: true });
    const page = await openPage(`${gw.httpUrl}/`);
    const { step, pageErrors, clientErrors } = await probe(page);
    const input = page.getByTestId('message-input');
    const error = page.getByTestId('input-error');
    await expect(error.isHidden()).resolves.toBe(true);
    await send(page, 'x'.repeat(70_000));
    await expect(error.isVisible()).resolves.toBe(true);
    await expect(error.textContent()).resolves.toBe(
      'This message is too long to send: 70,002 bytes, and one message can be at most 65,024. Shorten it or split it.',
    );
    await expect(input.inputValue()).resolves.toHaveLength(70_000);
    await expect(input.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(page.getByTestId('user-message').count()).resolves.toBe(0);
    expect(gw.gateway.runtime.activeRuns()).toBe(0);

    await send(page, 'What is 6 times 7?');
    await expect(error.isHidden()).resolves.toBe(true);
    await step('the answer', page.locator('[data-testid=answer][data-status=succeeded]').waitFor());
    await expect(page.getByTestId('answer').textContent()).resolves.toContain('6 * 7 = 42.');
    await expect(page.getByTestId('user-message').count()).resolves.toBe(1);
    expect(pageErrors).toEqual([]);
    expect(clientErrors).toEqual([]);
  });

  it('says why it cannot connect when the gateway signs no demo tokens (a --jwt-secret without --demo-tokens)', async () => {
    gw = await startGateway({ demo: true });
    context = await chromium.context();
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_WAIT_MS);
    await page.goto(`${gw.httpUrl}/`);
    await page
      .getByTestId('status')
      .filter({
        hasText: 'GET /demo/token answered 404: demo tokens are signed only with the generated dev secret',
      })
      .waitFor();
  });
});
