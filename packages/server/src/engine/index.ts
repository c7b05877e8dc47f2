export * from './engine.js';
export * from './epoch.js';
export * from './history-ring.js';
export * from './memory-engine.js';
export * from './redis-engine.js';
export * from './redis-engine-options.js';
export * from './replay-buffer.js';
