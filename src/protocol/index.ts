export * from './agentcast-error.js';
export * from './close-codes.js';
export * from './compat.js';
export * from './error-codes.js';
export * from './events.js';
export * from './frames.js';
export * from './issues.js';
export * from './publish.js';
