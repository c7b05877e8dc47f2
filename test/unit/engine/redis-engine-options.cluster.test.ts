import { describe, expect, it } from 'vitest';
import {
  clusterConnectionOptions,
  clusterSeed,
  resolveRedisEngineOptions,
} from '../../../packages/server/src/engine/redis-engine-options.js';

describe('clusterSeed', () => {
  it.each([
    ['redis://127.0.0.1:7000', { host: '127.0.0.1', port: 7000, tls: false }],
    ['redis://10.0.0.5', { host: '10.0.0.5', port: 6379, tls: false }],
    ['redis://127.0.0.1:7000/0', { host: '127.0.0.1', port: 7000, tls: false }],
    ['rediss://[::1]:7000', { host: '::1', port: 7000, tls: true }],
    [
      'redis://app:p%40ss@redis.internal:7001',
      { host: 'redis.internal', port: 7001, username: 'app', password: 'p@ss', tls: false },
    ],
    ['redis://:secret@h:1', { host: 'h', port: 1, password: 'secret', tls: false }],
  ])('reads %s', (url, seed) => {
    expect(clusterSeed(url)).toEqual(seed);
  });

  it.each([
    [
      'redis://127.0.0.1:7000/2',
      'RedisEngine: a Redis Cluster has only database 0; remove "/2" from the url',
    ],
    [
      'http://127.0.0.1:7000',
      'RedisEngine: url must be redis://host:port or rediss://host:port, got "http://127.0.0.1:7000"',
    ],
    [
      '127.0.0.1:7000',
      'RedisEngine: url must be redis://host:port or rediss://host:port, got "127.0.0.1:7000"',
    ],
  ])('refuses %s', (url, message) => {
    expect(() => clusterSeed(url)).toThrow(new TypeError(message));
  });

  it('is checked when the engine options are resolved, only for a cluster', () => {
    expect(() => resolveRedisEngineOptions({ url: 'redis://h:1/2', cluster: true })).toThrow(TypeError);
    expect(resolveRedisEngineOptions({ url: 'redis://h:1/2' }).cluster).toBe(false);
  });
});

describe('clusterConnectionOptions', () => {
  const resolve = (url: string) =>
    resolveRedisEngineOptions({
      url,
      cluster: true,
      name: 'node-a',
      commandTimeoutMs: 300,
      reconnectDelayMs: { min: 10, max: 40 },
    });

  it('fails fast, never resends a command that may have run, and retries only refusals', () => {
    const options = clusterConnectionOptions(resolve('redis://127.0.0.1:7000'));
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      redisOptions: {
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        autoResubscribe: false,
        commandTimeout: 300,
        connectTimeout: 1000,
        connectionName: 'node-a',
      },
    });
    expect(options.redisOptions).not.toHaveProperty('password');
    expect(options.redisOptions).not.toHaveProperty('tls');
    const delay = options.clusterRetryStrategy?.(10);
    expect(delay).toBeGreaterThanOrEqual(40);
    expect(delay).toBeLessThanOrEqual(44);
  });

  it('gives every node the credentials and TLS of the seed url', () => {
    const options = clusterConnectionOptions(resolve('rediss://app:pw@127.0.0.1:7000'));
    expect(options.redisOptions).toMatchObject({ username: 'app', password: 'pw', tls: {} });
  });
});
