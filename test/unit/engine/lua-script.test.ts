import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evalshaArgs, LuaScript } from '../../../packages/server/src/engine/lua-script.js';

describe('LuaScript', () => {
  it('loads every script from src/engine/lua with its SHA1', () => {
    const scripts = LuaScript.loadAll();
    expect(Object.keys(scripts).sort()).toEqual([
      'acquire-slot',
      'active-runs',
      'append',
      'append-batch',
      'append-once',
      'claim',
      'disconnect-user',
      'due-runs',
      'end-run',
      'head',
      'history',
      'presence',
      'promote-run',
      'reap-run',
      'renew-run',
      'request-cancel',
      'run-index',
      'snapshots',
      'start-run',
    ]);
    for (const [name, script] of Object.entries(scripts)) {
      if (name === 'append-once' || name === 'append-batch' || name === 'reap-run') continue; // composed, below
      const source = readFileSync(
        new URL(`../../../packages/server/src/engine/lua/${name}.lua`, import.meta.url),
        'utf8',
      );
      expect(script.name).toBe(name);
      expect(script.source).toBe(source);
      expect(script.sha).toBe(createHash('sha1').update(source).digest('hex'));
    }
  });

  it('composes append-once, append-batch and reap-run from append.lua wrapped as its function append_one', () => {
    const scripts = LuaScript.loadAll();
    const wrapper = readFileSync(
      new URL('../../../packages/server/src/engine/lua/append-once.lua', import.meta.url),
      'utf8',
    );
    const source = `local function append_one(KEYS, ARGV)\n${scripts.append.source}\nend\n${wrapper}`;
    expect(scripts['append-once'].source).toBe(source);
    expect(scripts['append-once'].sha).toBe(createHash('sha1').update(source).digest('hex'));
    const reaper = readFileSync(
      new URL('../../../packages/server/src/engine/lua/reap-run.lua', import.meta.url),
      'utf8',
    );
    expect(scripts['reap-run'].source).toBe(
      `local function append_one(KEYS, ARGV)\n${scripts.append.source}\nend\n${reaper}`,
    );
    const batch = readFileSync(
      new URL('../../../packages/server/src/engine/lua/append-batch.lua', import.meta.url),
      'utf8',
    );
    expect(scripts['append-batch'].source).toBe(
      `local function append_one(KEYS, ARGV)\n${scripts.append.source}\nend\n${batch}`,
    );
  });

  it('gives EVALSHA the number of keys the call holds, then its keys, then its other arguments', () => {
    const script = new LuaScript('claim', 'return 1');
    expect(evalshaArgs(script, { keys: ['k1', 'k2'], args: ['a', 3] })).toEqual([
      script.sha,
      2,
      'k1',
      'k2',
      'a',
      3,
    ]);
    expect(evalshaArgs(script, { keys: ['k'], args: [] })).toEqual([script.sha, 1, 'k']);
  });
});
