import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';

/** The hash tag Redis Cluster hashes: the text between the first `{` and the next `}`. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return key.slice(open + 1, close);
}

describe('RedisKeys', () => {
  const keys = new RedisKeys('ac:');

  it('names every key of a user under the hash tag {u:<id>}', () => {
    expect(keys.meta('alice')).toBe('ac:{u:alice}:meta');
    expect(keys.log('alice')).toBe('ac:{u:alice}:log');
    expect(keys.sizes('alice')).toBe('ac:{u:alice}:sizes');
    expect(keys.slots('alice')).toBe('ac:{u:alice}:conns');
    expect(keys.channel('alice')).toBe('ac:{u:alice}:events');
    expect(keys.idempotency('alice:m1')).toBe('ac:idem:alice:m1');
    // A node's control channel (cancel requests), not a user's: outside every user's hash tag.
    expect(keys.control('node-a')).toBe('ac:node:node-a');
    expect(keys.controlPrefix).toBe('ac:node:');
    expect(keys.pattern).toBe('ac:*');
  });

  it.each(['alice', 'a}b', 'x{y', 'ünï', ''])('keeps the keys of user %j in one cluster slot', (user) => {
    const tags = new Set([keys.meta(user), keys.log(user), keys.sizes(user), keys.slots(user)].map(hashTag));
    expect(tags.size).toBe(1);
  });

  it('refuses a prefix with braces, which would change the hash tag', () => {
    expect(() => new RedisKeys('a{b')).toThrow(
      new TypeError('RedisEngine: keyPrefix must not contain "{" or "}" (hash tags), got "a{b"'),
    );
    expect(() => new RedisKeys('a}')).toThrow(TypeError);
  });
});
