import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser, launchChromium, skipBrowserTests } from '../helpers/browser.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';
import { terminalOf } from '../helpers/gateway-nodes.js';
import { testAgents } from '../integration/ai-sdk/ai-sdk-agents.js';

/**
 * docs/ai-sdk.md in a real Chromium: a page built with @ai-sdk/react's useChat and DefaultChatTransport,
 * pointed at agentcast. Reloaded mid-answer it resumes and shows the answer once, complete; its Stop (stop()
 * then POST …/cancel) ends the run `cancelled`.
 */

const PAGE_WAIT_MS = 10_000;
const HTML =
  '<!doctype html><meta charset="utf-8"><title>useChat on agentcast</title><div id="root"></div><script type="module" src="/app.js"></script>';

/** Code without its layout: whitespace and trailing commas (the formatter's) removed. */
const bare = (code: string): string => code.replace(/\s+/g, '').replace(/,([}\])])/g, '$1');

describe('docs/ai-sdk.md', () => {
  it("the chat page recipe is the tested page's code", () => {
    const doc = readFileSync(new URL('../../docs/ai-sdk.md', import.meta.url), 'utf8');
    const recipe = /```ts\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('## A chat page')))?.[1] ?? '';
    const page = bare(readFileSync(new URL('./ai-sdk-app/chat-page.ts', import.meta.url), 'utf8'));
    const statements = recipe.split(/^(?=const )/m).filter((s) => s.trim() !== '');
    expect(statements.length).toBe(4);
    for (const statement of statements) expect(page, statement).toContain(bare(statement));
  });
});

describe.skipIf(skipBrowserTests())('useChat (AI SDK) on agentcast in Chromium', () => {
  const agents = testAgents();
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let gw: Harness;
  let pages: Server;
  let origin: string;

  beforeAll(async () => {
    const [app, launched, harness] = await Promise.all([
      bundleForBrowser({
        entryPoints: [fileURLToPath(new URL('./ai-sdk-app/chat-page.ts', import.meta.url))],
      }),
      launchChromium(),
      startGateway({}, { agents: agents.agents }),
    ]);
    browser = launched;
    gw = harness;
    pages = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML);
      else if (path === '/app.js')
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(app);
      else res.writeHead(404).end();
    });
    pages.listen(0, '127.0.0.1');
    await once(pages, 'listening');
    origin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    context = await browser.newContext();
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    pages?.close();
    await gw?.close();
  });

  async function openChat(user: string, chat: string, agent = 'gated'): Promise<Page> {
    const page = await (context as BrowserContext).newPage();
    const query = new URLSearchParams({ gw: gw.httpUrl, token: await gw.token(user), chat, agent });
    await page.goto(`${origin}/?${query}`);
    return page;
  }

  async function ask(page: Page, text: string): Promise<void> {
    await page.getByTestId('input').fill(text);
    await page.getByTestId('send').click();
  }

  const assistant = (page: Page) => page.locator('[data-testid=message][data-role=assistant]');

  it('reloaded mid-answer, the page resumes and shows the answer once, complete', async () => {
    const page = await openChat('b-reload', 'b-chat-reload');
    await ask(page, 'reload me');
    await agents.reached('reload me');
    await assistant(page)
      .getByTestId('text')
      .filter({ hasText: 'one two' })
      .waitFor({ timeout: PAGE_WAIT_MS });
    await page.reload();
    // After the reload: the user's message (kept by the app) and the resumed answer so far.
    await assistant(page)
      .getByTestId('text')
      .filter({ hasText: 'one two' })
      .waitFor({ timeout: PAGE_WAIT_MS });
    agents.release('reload me');
    await page.getByTestId('status').filter({ hasText: 'ready' }).waitFor({ timeout: PAGE_WAIT_MS });
    await assistant(page).getByTestId('text').filter({ hasText: 'three' }).waitFor({ timeout: PAGE_WAIT_MS });
    expect(await assistant(page).count()).toBe(1);
    expect(await assistant(page).getByTestId('text').textContent()).toBe('one two three');
    expect(await assistant(page).getByTestId('parts').textContent()).toBe('step-start reasoning text');
    expect(await page.locator('[data-testid=message][data-role=user]').count()).toBe(1);
    await page.close();
  });

  it('Approve (addToolApprovalResponse, then sendMessage) settles the approval; the run goes on in the same message', async () => {
    const page = await openChat('b-approve', 'b-chat-approve', 'asks');
    await ask(page, 'email bob');
    await page.getByTestId('approve').click({ timeout: PAGE_WAIT_MS });
    const message = assistant(page);
    await message.getByTestId('text').filter({ hasText: 'Sent.' }).waitFor({ timeout: PAGE_WAIT_MS });
    await page.getByTestId('status').filter({ hasText: 'ready' }).waitFor({ timeout: PAGE_WAIT_MS });
    expect(await message.count()).toBe(1);
    expect(await message.getByTestId('parts').textContent()).toBe('step-start tool-send_email text');
    expect(await message.getByTestId('states').textContent()).toBe(' output-available done');
    await page.close();
  });

  it('Stop (stop() and the cancel route) ends the run cancelled', async () => {
    const tab = await gw.connect('b-stop');
    const page = await openChat('b-stop', 'b-chat-stop');
    await ask(page, 'stop me');
    await agents.reached('stop me');
    const message = assistant(page);
    await message.getByTestId('text').filter({ hasText: 'one two' }).waitFor({ timeout: PAGE_WAIT_MS });
    const runId = (await message.getAttribute('data-id')) ?? '';
    expect(runId).toMatch(/^r_/);
    await page.getByTestId('stop').click();
    const terminal = await terminalOf(tab, runId);
    expect(terminal.data).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    await page.getByTestId('status').filter({ hasText: 'ready' }).waitFor({ timeout: PAGE_WAIT_MS });
    await page.close();
  });
});
