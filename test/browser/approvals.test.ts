import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, skipBrowserTests, useChromium } from '../helpers/browser.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';

/**
 * Approvals in the demo page (docs/protocol.md G, docs/agents.md "Built-in demo agent"), in a real
 * Chromium: two tabs of one user both show the demo agent's question before `send_email`; an answer in one
 * disables the buttons in the other (from `approval_resolved`) and shows the outcome in both, and the
 * answer decides whether the tool runs. The picture of the tab that did not answer is
 * docs/images/approvals.png (copied from test-artifacts/approvals.png).
 */

const PAGE_WAIT_MS = 10_000;

describe.skipIf(skipBrowserTests())('demo page approvals in Chromium', () => {
  let gw: Harness | undefined;
  beforeAll(async () => {
    gw = await startGateway({ demo: true, demoTokens: true, demoDelayMs: 50 });
  });
  afterAll(async () => {
    await gw?.close();
  });
  const chromium = useChromium();

  /**
   * A page of `user` (a user per test: a fresh page shows no earlier run), connected. Each in a window of
   * its own: a background tab would draw (requestAnimationFrame) about once a second.
   */
  async function openTab(user: string, errors: string[]): Promise<Page> {
    const page = await (await chromium.context()).newPage();
    page.setDefaultTimeout(PAGE_WAIT_MS);
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${gw?.httpUrl}/?user=${user}`);
    await page.locator('[data-testid=state-badge][data-state=open]').waitFor();
    return page;
  }

  async function twoTabs(user: string, errors: string[]): Promise<[Page, Page]> {
    return [await openTab(user, errors), await openTab(user, errors)];
  }

  /** The state of the question as `page` shows it. */
  async function question(page: Page) {
    const card = page.getByTestId('approval');
    return {
      decision: await card.getAttribute('data-decision'),
      approveDisabled: await card.getByTestId('approve-button').isDisabled(),
      denyDisabled: await card.getByTestId('deny-button').isDisabled(),
      outcome: await card.getByTestId('approval-outcome').textContent(),
    };
  }

  it('approve in one tab: the other tab’s buttons disable, and send_email runs', async () => {
    const errors: string[] = [];
    const [asker, other] = await twoTabs('approver', errors);
    await asker.getByTestId('message-input').fill('Please email bob@example.org the plan');
    await asker.getByTestId('send-button').click();
    // Both tabs show the question with live buttons.
    for (const page of [asker, other]) {
      await page.getByTestId('approval').waitFor();
      expect(await question(page)).toMatchObject({ decision: null, approveDisabled: false });
    }
    await expect(other.getByTestId('approval').textContent()).resolves.toContain(
      'Send an email to bob@example.org',
    );

    await other.getByTestId('approve-button').click();
    for (const page of [asker, other]) {
      await page.locator('[data-testid=approval][data-decision=approved]').waitFor();
      expect(await question(page)).toEqual({
        decision: 'approved',
        approveDisabled: true,
        denyDisabled: true,
        outcome: 'Approved',
      });
      await page.locator('[data-testid=answer][data-status=succeeded]').waitFor();
      await expect(page.getByTestId('answer').locator(':scope > p').textContent()).resolves.toBe(
        'I sent the email to bob@example.org.',
      );
    }
    const tools = await asker
      .locator('[data-testid=event][data-type=tool_completed]')
      .evaluateAll((els) => els.length);
    expect(tools).toBe(1);
    await asker.screenshot({ path: `${ARTIFACTS}approvals.png` });
    expect(errors).toEqual([]);
  });

  it('deny in one tab: a tab opened while the question waits shows it too, its buttons disable, and no tool runs', async () => {
    const errors: string[] = [];
    const asker = await openTab('denier', errors);
    await asker.getByTestId('message-input').fill('Send an EMAIL to carol@example.org');
    await asker.getByTestId('send-button').click();
    await asker.getByTestId('approval').waitFor();
    // Opened (a reload, another device) while the run waits: the question comes with the run's snapshot.
    const other = await openTab('denier', errors);
    await other.getByTestId('approval').waitFor();
    expect(await question(other)).toMatchObject({ decision: null, approveDisabled: false });
    await asker.getByTestId('deny-button').click();
    for (const page of [asker, other]) {
      await page.locator('[data-testid=approval][data-decision=denied]').waitFor();
      expect(await question(page)).toEqual({
        decision: 'denied',
        approveDisabled: true,
        denyDisabled: true,
        outcome: 'Denied',
      });
      await page.locator('[data-testid=answer][data-status=succeeded]').waitFor();
      await expect(page.getByTestId('answer').locator(':scope > p').textContent()).resolves.toBe(
        'I did not send the email to carol@example.org: the request was denied.',
      );
    }
    const tools = await asker.locator('[data-testid=event][data-type^=tool_]').count();
    expect(tools).toBe(0);
    expect(errors).toEqual([]);
  });
});
