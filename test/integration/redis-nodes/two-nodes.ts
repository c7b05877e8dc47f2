import { afterEach, beforeEach } from 'vitest';
import type { Gateway } from '../../../packages/server/src/gateway/gateway.js';
import { healthIs } from '../../helpers/engine-health.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../../helpers/redis-fixture.js';

/** Resolves when the gateway's engine is healthy (both Redis connections ready, scripts loaded). */
export async function engineReady(gateway: Gateway, timeoutMs = 5000): Promise<void> {
  await healthIs(gateway.engine, true, `engine of ${gateway.config.serverId}`, timeoutMs);
}

/** Two in-process gateways on the shared Redis, with a key prefix of their own. */
export interface TwoNodes {
  readonly nodeA: Harness;
  readonly nodeB: Harness;
  readonly prefix: string;
}

/**
 * Registers beforeEach/afterEach that start node-a and node-b on one Redis for every test of the
 * enclosing describe, wait for both engines, and afterwards close them and delete their keys.
 */
export function useTwoNodes(name: string): { readonly current: () => TwoNodes } {
  let nodes: TwoNodes | undefined;
  beforeEach(async () => {
    const prefix = uniquePrefix(name);
    const shared = { redis: REDIS_URL, redisKeyPrefix: prefix };
    const nodeA = await startGateway({ ...shared, serverId: 'node-a' });
    const nodeB = await startGateway({ ...shared, serverId: 'node-b' });
    await Promise.all([engineReady(nodeA.gateway), engineReady(nodeB.gateway)]);
    nodes = { nodeA, nodeB, prefix };
  });
  afterEach(async () => {
    if (nodes === undefined) return;
    await Promise.all([nodes.nodeA.close(), nodes.nodeB.close()]);
    await deleteKeys(REDIS_URL, `${nodes.prefix}*`);
    nodes = undefined;
  });
  return {
    current: () => {
      if (nodes === undefined) throw new Error('useTwoNodes: no nodes outside a test');
      return nodes;
    },
  };
}
