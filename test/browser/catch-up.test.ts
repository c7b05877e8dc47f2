import type { ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { ARTIFACTS, skipBrowserTests, useChromium } from '../helpers/browser.js';
import { deferred } from '../helpers/deferred.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';
import { line, useWebhookFixture } from '../integration/agents/local-backend.js';

/**
 * Catch-up in the demo page (docs/protocol.md F, docs/client.md "Runs"), in a real Chromium: a webhook
 * backend streams a long answer, then holds; the page opened in a second tab at that moment shows the
 * whole answer so far at once (from the run's snapshot), then the rest as it streams. The picture of the
 * second tab mid-answer is docs/images/catch-up.png (copied from test-artifacts/catch-up.png).
 */

const PAGE_WAIT_MS = 10_000;
const WORDS =
  'a late tab needs the whole run so far and the gateway keeps each run folded into one snapshot'.split(' ');
const BEFORE = 2_000;
const AFTER = 300;
const token = (i: number) =>
  `${WORDS[i % WORDS.length]}${i % WORDS.length === WORDS.length - 1 ? '. ' : ' '}`;
const textOf = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => token(from + i)).join('');

describe.skipIf(skipBrowserTests())('demo page catch-up in Chromium', () => {
  const { backend } = useWebhookFixture();
  let gw: Harness | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });
  // After the gateway's afterEach: hooks run last-registered first, so pages close before the gateway.
  const chromium = useChromium();

  /** The page's answer bubble text and the stream_chunk entries its timeline drew. */
  async function drawn(page: Page) {
    const answer = page.getByTestId('answer').locator('p');
    const chunks = await page
      .locator('[data-testid=event][data-type=stream_chunk]')
      .evaluateAll((els) => els.map((el) => Number((el as HTMLElement).dataset.seq)));
    return { text: await answer.textContent(), chunks };
  }

  it('a second tab opened mid-answer shows the whole answer so far, then the rest', async () => {
    const release = deferred();
    const b = await backend(async (_request, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let batch = '';
      for (let i = 0; i < BEFORE; i++) batch += line({ type: 'stream_chunk', data: { text: token(i) } });
      res.write(batch);
      await release.promise;
      batch = '';
      for (let i = BEFORE; i < BEFORE + AFTER; i++)
        batch += line({ type: 'stream_chunk', data: { text: token(i) } });
      res.end(
        `${batch}${line({ type: 'agent_completed', data: { status: 'succeeded', final_response: null } })}`,
      );
    });
    gw = await startGateway({
      demo: true,
      demoTokens: true,
      agentUrl: b.url,
      agentSecret: 'catch-up-secret',
      defaultAgent: 'webhook',
    });
    const context = await chromium.context();
    const first = await context.newPage();
    first.setDefaultTimeout(PAGE_WAIT_MS);
    const errors: string[] = [];
    first.on('pageerror', (error) => errors.push(error.message));
    await first.goto(`${gw.httpUrl}/`);
    await first.locator('[data-testid=state-badge][data-state=open]').waitFor();
    await first.getByTestId('message-input').fill('Why does a late tab see the whole answer?');
    await first.getByTestId('send-button').click();
    // The backend holds once every token before the hold is drawn in the first tab.
    const soFar = textOf(0, BEFORE);
    await first.waitForFunction(
      (n) => document.querySelector('[data-testid=answer] p')?.textContent?.length === n,
      soFar.length,
    );

    const late = await context.newPage();
    late.setDefaultTimeout(PAGE_WAIT_MS);
    late.on('pageerror', (error) => errors.push(error.message));
    await late.goto(`${gw.httpUrl}/`);
    await late.locator('[data-testid=answer]').waitFor();
    // The whole answer so far at once, from the snapshot: no stream_chunk of it was sent to this tab.
    expect(await drawn(late)).toEqual({ text: soFar, chunks: [] });
    await late.screenshot({ path: `${ARTIFACTS}catch-up.png` });

    release.resolve();
    await late.locator('[data-testid=answer][data-status=succeeded]').waitFor();
    const after = await drawn(late);
    expect(after.text).toBe(textOf(0, BEFORE + AFTER));
    // Then exactly the rest, each token once.
    expect(after.chunks).toHaveLength(AFTER);
    expect(new Set(after.chunks).size).toBe(AFTER);
    await first.locator('[data-testid=answer][data-status=succeeded]').waitFor();
    expect((await drawn(first)).text).toBe(after.text);
    await expect(late.getByTestId('answer').count()).resolves.toBe(1);
    expect(errors).toEqual([]);
  });
});
