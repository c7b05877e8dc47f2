import { describe, expect, it } from 'vitest';
import { closestName } from '../../../packages/server/src/config/closest-name.js';

const FLAGS = ['port', 'host', 'origins', 'history-size', 'history-ttl-s', 'jwt-secret', 'jwks', 'demo'];

describe('closestName', () => {
  it.each([
    ['prot', 'port'], // two neighbours swapped: one edit
    ['prt', 'port'],
    ['portt', 'port'],
    ['orgins', 'origins'],
    ['histroy-size', 'history-size'],
    ['history-ttl', 'history-ttl-s'],
    ['jwt-secert', 'jwt-secret'],
    ['jwk', 'jwks'],
    ['AGENTCAST_PROT', 'AGENTCAST_PORT'],
  ])('reads %j as a typo of %j', (name, expected) => {
    expect(closestName(name, [...FLAGS, 'AGENTCAST_PORT', 'AGENTCAST_HOST'])).toBe(expected);
  });

  it.each([
    ['colour'], // a different word
    ['x'], // too short to be sure
    ['po'], // half the name changed
    ['secret'], // four edits from jwt-secret
    [''],
  ])('suggests nothing for %j', (name) => {
    expect(closestName(name, FLAGS)).toBeUndefined();
  });

  it('prefers the fewest edits, then the first candidate', () => {
    expect(closestName('hostss', ['host', 'hosts'])).toBe('hosts');
    expect(closestName('hots', ['host', 'hosts'])).toBe('host');
    expect(closestName('dem', ['demo', 'deno'])).toBe('demo');
  });
});
