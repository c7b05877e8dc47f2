import { describe } from 'vitest';
import { RedisEngine } from '../../../packages/server/src/engine/redis-engine.js';
import { describeEngineContract } from '../../engine-contract/describe-engine-contract.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../helpers/redis-fixture.js';

const available = await requireRedis(REDIS_URL, 'RedisEngine contract');

describe.skipIf(!available)('RedisEngine', () => {
  describeEngineContract('RedisEngine', async (config) => {
    const keyPrefix = uniquePrefix('contract');
    const engine = new RedisEngine({ url: REDIS_URL, keyPrefix, ...config });
    await engine.ready();
    return { engine, cleanup: () => deleteKeys(REDIS_URL, `${keyPrefix}*`) };
  });
});
