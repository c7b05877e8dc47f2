import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** Debian's Chromium; CI installs it (.ci/run). Browsers are never downloaded. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Headless, sandbox-free (containers), and quiet: no update checks, sync or first-run pages. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/**
 * Whether the browser tests should be skipped: only when Chromium is missing outside CI. In CI (`CI` set)
 * they never skip, so a missing browser fails the run instead of hiding it. Warns when it skips.
 */
export function skipBrowserTests(): boolean {
  if (existsSync(CHROMIUM_PATH)) return false;
  if (process.env.CI !== undefined) return false;
  console.warn(
    `SKIPPING browser tests: ${CHROMIUM_PATH} does not exist (apt-get install chromium). In CI they fail instead.`,
  );
  return true;
}

/** Launches the system Chromium headless; throws a clear error when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`${CHROMIUM_PATH} is missing: install Debian's chromium (CI does it in .ci/run)`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/**
 * Bundles code for a test page as one ES module in memory: for browsers, es2022, JSX, and React's
 * development build (where StrictMode double-mounts). `options` says what to bundle and how to resolve it.
 */
export async function bundleForBrowser(options: BuildOptions): Promise<string> {
  const result = await build({
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'warning',
    ...options,
  });
  const [file] = result.outputFiles ?? [];
  if (file === undefined) throw new Error('esbuild produced no output');
  return file.text;
}

/** Where browser tests write their screenshots (docs/images/ holds the copies the docs show). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** What {@link useChromium} gives a describe. */
export interface ChromiumFixture {
  /** A new browser context (1280×800 unless `options` say otherwise), closed after the test. */
  context(options?: BrowserContextOptions): Promise<BrowserContext>;
}

/**
 * One Chromium for the calling describe: launched before its tests (and ARTIFACTS created), each test's
 * contexts closed after it, the browser closed after the last test. Call it inside `describe.skipIf(
 * skipBrowserTests())`. Hooks run in reverse order of registration, so call it after registering a
 * gateway's own afterAll: the pages close before their gateway does.
 */
export function useChromium(): ChromiumFixture {
  let browser: Browser | undefined;
  const open: BrowserContext[] = [];
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterEach(async () => {
    for (const context of open.splice(0)) await context.close();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    async context(options) {
      if (browser === undefined) throw new Error('useChromium(): the browser is not launched yet');
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
      open.push(context);
      return context;
    },
  };
}
