import { describe, expect, it } from 'vitest';
import {
  selectSubprotocol,
  tokenFromUpgrade,
  type UpgradeCredentials,
} from '../../../packages/server/src/auth/token-source.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln';

describe('tokenFromUpgrade', () => {
  const none: UpgradeCredentials = { subprotocols: [], allowQueryToken: false };

  it.each<{ name: string; creds: UpgradeCredentials; expected: ReturnType<typeof tokenFromUpgrade> }>([
    { name: 'nothing offered', creds: none, expected: undefined },
    {
      name: 'Authorization: Bearer',
      creds: { ...none, authorization: `Bearer ${JWT}` },
      expected: { token: JWT, source: 'header' },
    },
    {
      name: 'a lower-case scheme and extra spaces',
      creds: { ...none, authorization: `bearer   ${JWT}  ` },
      expected: { token: JWT, source: 'header' },
    },
    { name: 'Authorization: Basic', creds: { ...none, authorization: `Basic ${JWT}` }, expected: undefined },
    { name: 'Bearer without a token', creds: { ...none, authorization: 'Bearer ' }, expected: undefined },
    {
      name: 'Bearer with two tokens',
      creds: { ...none, authorization: `Bearer ${JWT} ${JWT}` },
      expected: undefined,
    },
    { name: 'a token without a scheme', creds: { ...none, authorization: JWT }, expected: undefined },
    {
      name: 'a bearer.<jwt> subprotocol',
      creds: { ...none, subprotocols: ['agentcast.v1', `bearer.${JWT}`] },
      expected: { token: JWT, source: 'subprotocol' },
    },
    {
      name: 'an empty bearer. subprotocol',
      creds: { ...none, subprotocols: ['bearer.'] },
      expected: undefined,
    },
    {
      name: 'a Bearer. subprotocol in another case (not ours)',
      creds: { ...none, subprotocols: [`Bearer.${JWT}`] },
      expected: undefined,
    },
    { name: '?token= when not allowed', creds: { ...none, queryToken: JWT }, expected: undefined },
    {
      name: '?token= when allowed',
      creds: { ...none, queryToken: JWT, allowQueryToken: true },
      expected: { token: JWT, source: 'query' },
    },
    {
      name: 'an empty ?token= when allowed',
      creds: { ...none, queryToken: '', allowQueryToken: true },
      expected: undefined,
    },
    {
      name: 'a null ?token= when allowed',
      creds: { ...none, queryToken: null, allowQueryToken: true },
      expected: undefined,
    },
    {
      name: 'header, subprotocol and query together (header wins)',
      creds: {
        authorization: 'Bearer from-header',
        subprotocols: ['bearer.from-subprotocol'],
        queryToken: 'from-query',
        allowQueryToken: true,
      },
      expected: { token: 'from-header', source: 'header' },
    },
    {
      name: 'subprotocol and query together (subprotocol wins)',
      creds: { subprotocols: ['bearer.from-subprotocol'], queryToken: 'from-query', allowQueryToken: true },
      expected: { token: 'from-subprotocol', source: 'subprotocol' },
    },
    {
      name: 'a Basic header with a subprotocol token (the subprotocol is used)',
      creds: {
        authorization: 'Basic dTpw',
        subprotocols: ['bearer.from-subprotocol'],
        allowQueryToken: false,
      },
      expected: { token: 'from-subprotocol', source: 'subprotocol' },
    },
  ])('with $name', ({ creds, expected }) => {
    expect(tokenFromUpgrade(creds)).toEqual(expected);
  });
});

describe('selectSubprotocol', () => {
  it.each<[readonly string[], string | false | null]>([
    [[], null],
    [['agentcast.v1'], 'agentcast.v1'],
    [[`bearer.${JWT}`, 'agentcast.v1'], 'agentcast.v1'],
    [['graphql-ws', 'agentcast.v1'], 'agentcast.v1'],
    [[`bearer.${JWT}`], null],
    [['bearer.'], null],
    [['graphql-ws'], false],
    [['agentcast.v2'], false],
    [['AGENTCAST.V1'], false],
    [['agentcast.v1 '], false],
    [['agentcast'], false],
    [[`Bearer.${JWT}`], false],
  ])('offered %j -> %j', (offered, expected) => {
    expect(selectSubprotocol(offered)).toBe(expected);
  });
});
