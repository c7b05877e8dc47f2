import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What a user of `@agentcast/client` installs (issue 14): the built files import nothing outside the
 * package, `npm pack` ships dist/, README and LICENSE only, and installing the tarball into an empty app
 * installs exactly one package, which imports and connects. Needs the build (`npm test` builds first).
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT = join(ROOT, 'packages/client');
const DIST = join(CLIENT, 'dist');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * Every module specifier of an ES module's text: static imports and re-exports, and dynamic import().
 * Comments are dropped first (a doc comment may mention `import WebSocket from 'ws'`).
 */
function importSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of code.matchAll(/\b(?:import|export)\s*(?:[\w*{}\s,$]+\s*from\s*)?["']([^"']+)["']/g))
    found.push(m[1] as string);
  for (const m of code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1] as string);
  return found;
}

describe('@agentcast/client as a package', () => {
  beforeAll(() => {
    if (!existsSync(join(DIST, 'index.js')))
      throw new Error('packages/client/dist is missing: run `npm run build` first (npm test does)');
  });

  it('finds the specifiers of imports, re-exports and dynamic imports (so the next test can fail)', () => {
    expect(
      importSpecifiers(
        `import { a } from './a.js';\nexport * from "./b.js";\nimport 'zod';\nconst x = import('ws');\n/** import x from 'nope' */\nexport { c } from '../c.js';`,
      ),
    ).toEqual(['./a.js', './b.js', 'zod', '../c.js', 'ws']);
  });

  it('has built files that import only each other: no package, no Node built-in, nothing outside dist/', () => {
    const modules = filesUnder(DIST).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
    expect(modules.length).toBeGreaterThan(10);
    for (const file of modules) {
      for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
        expect(specifier, `${relative(ROOT, file)} imports ${specifier}`).toMatch(/^\.\.?\//);
        const target = resolve(dirname(file), specifier);
        expect(relative(DIST, target).startsWith('..'), `${relative(ROOT, file)} leaves dist/`).toBe(false);
        expect(existsSync(target), `${relative(ROOT, file)} imports a missing ${specifier}`).toBe(true);
      }
    }
  });

  it('declares no dependencies of any kind', () => {
    const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies'])
      expect(manifest[field], field).toBeUndefined();
  });

  describe('packed and installed into an empty app', () => {
    let work: string;
    let tarball: string;

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'agentcast-pack-'));
      // What `prepack` would do; the build itself already ran, and must not run again under other tests.
      copyFileSync(join(ROOT, 'LICENSE'), join(CLIENT, 'LICENSE'));
      const { stdout } = await run(
        'npm',
        ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
        { cwd: CLIENT },
      );
      const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
      tarball = join(work, packed.filename);
      writeFileSync(join(work, 'files.json'), JSON.stringify(packed.files.map((f) => f.path)));
    }, 60_000);

    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it('ships dist/, README.md, LICENSE and package.json, nothing else', () => {
      const files = JSON.parse(readFileSync(join(work, 'files.json'), 'utf8')) as string[];
      const outside = files.filter(
        (f) => !f.startsWith('dist/') && !['README.md', 'LICENSE', 'package.json'].includes(f),
      );
      expect(outside).toEqual([]);
      expect(files).toEqual(
        expect.arrayContaining([
          'README.md',
          'LICENSE',
          'dist/index.js',
          'dist/index.d.ts',
          'dist/agentcast-client.min.js',
        ]),
      );
    });

    it('installs exactly one package, which imports and exposes the SDK', async () => {
      const app = join(work, 'app');
      await run('mkdir', ['-p', app]);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', private: true, type: 'module' }),
      );
      await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: app });
      const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
        packages: Record<string, unknown>;
      };
      expect(Object.keys(lock.packages).filter((p) => p !== '')).toEqual(['node_modules/@agentcast/client']);
      const { stdout } = await run(
        'node',
        [
          '--input-type=module',
          '-e',
          "const m = await import('@agentcast/client'); console.log(JSON.stringify([typeof m.connect, m.CloseCode.TooManyConnections]));",
        ],
        { cwd: app },
      );
      expect(JSON.parse(stdout)).toEqual(['function', 4009]);
    }, 60_000);
  });
});
