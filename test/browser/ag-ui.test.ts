import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser, launchChromium, skipBrowserTests } from '../helpers/browser.js';
import { deferred } from '../helpers/deferred.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';
import { FULL_TEXT, type ScriptedHold, scriptedAgent } from '../integration/ag-ui/scripted-agent.js';

/**
 * @agentcast/ag-ui in Chromium (docs/agents.md, "AG-UI clients in front of agentcast"): a page asks, reloads
 * in the middle of the answer, and re-attaches the live run with connectAgent(): the answer is built once
 * and no TEXT_MESSAGE_CONTENT arrives twice. The page is served at the gateway's own origin (a route of the
 * browser), so the fetches are same-origin as in an app served beside its gateway.
 */

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const WAIT_MS = 10_000;

interface PageSeen {
  deltas: string[];
  messages: { role: string; content?: unknown }[] | undefined;
  error: string | undefined;
}

describe.skipIf(skipBrowserTests())('@agentcast/ag-ui in Chromium', () => {
  const hold: ScriptedHold = { reached: deferred(), gate: deferred() };
  let browser: Browser | undefined;
  let gw: Harness | undefined;
  let html = '';
  beforeAll(async () => {
    const [launched, script, harness] = await Promise.all([
      launchChromium(),
      bundleForBrowser({
        entryPoints: [here('./ag-ui-app/app.ts')],
        alias: { '@agentcast/ag-ui': here('../../packages/ag-ui/src/index.ts') },
      }),
      startGateway({ defaultAgent: 'scripted' }, { agents: [scriptedAgent(hold)] }),
    ]);
    browser = launched;
    gw = harness;
    html = `<!doctype html><html><body><script type="module">${script.replaceAll('</script', '<\\/script')}</script></body></html>`;
  });
  afterAll(async () => {
    hold.gate.resolve();
    await browser?.close();
    await gw?.close();
  });

  const seen = (page: Page) =>
    page.evaluate(() => (window as unknown as { agUi: { seen: PageSeen } }).agUi.seen);

  it('reloads mid-answer and re-attaches the live run: the answer built once, no content twice', async () => {
    const harness = gw as Harness;
    const context = await (browser as Browser).newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const appUrl = `${harness.httpUrl}/ag-ui-test-app`;
    await page.route(appUrl, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
    const token = await harness.token('grace');
    const args = [harness.httpUrl, token, 'thread-browser'] as const;

    await page.goto(appUrl);
    await page.waitForFunction(() => 'agUi' in window);
    await page.evaluate(([url, t, thread]) => {
      (window as unknown as { agUi: { ask: (...a: string[]) => void } }).agUi.ask(
        url,
        t,
        thread,
        'm-browser',
        'please wait',
      );
    }, args);
    await hold.reached.promise;
    await page.waitForFunction(() =>
      (window as unknown as { agUi: { seen: PageSeen } }).agUi.seen.deltas.includes('is '),
    );
    const before = await seen(page);

    await page.reload(); // the run goes on on the gateway
    await page.waitForFunction(() => 'agUi' in window);
    await page.evaluate(([url, t, thread]) => {
      (window as unknown as { agUi: { reattach: (...a: string[]) => void } }).agUi.reattach(url, t, thread);
    }, args);
    // The answer so far arrives at once from the run's snapshot; then the run may finish, live.
    await page.waitForFunction(
      () => (window as unknown as { agUi: { seen: PageSeen } }).agUi.seen.deltas.length > 0,
    );
    hold.gate.resolve();
    await page.waitForFunction(() => {
      const s = (window as unknown as { agUi: { seen: PageSeen } }).agUi.seen;
      return s.messages !== undefined || s.error !== undefined;
    });
    const after = await seen(page);
    expect(after.error).toBeUndefined();
    expect(before.deltas.join('')).toBe('The answer is ');
    expect(after.deltas.join('')).toBe(FULL_TEXT);
    const answers = (after.messages ?? []).filter((m) => m.role === 'assistant' && m.content);
    expect(answers.map((m) => m.content)).toEqual([FULL_TEXT]);
    expect((after.messages ?? [])[0]).toMatchObject({ role: 'user', content: 'please wait' });
    expect(errors).toEqual([]);
    await context.close();
  });
});
