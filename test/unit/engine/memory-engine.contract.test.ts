import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { describeEngineContract } from '../../engine-contract/describe-engine-contract.js';

describeEngineContract('MemoryEngine', (config) => {
  let clock = Date.now();
  const engine = new MemoryEngine({ ...config, now: () => clock });
  return {
    engine,
    advanceClock: (ms) => {
      clock += ms;
    },
  };
});
