import type { TabChannel, TabLockManager } from './shared-client.js';
import { groupName } from './tab-protocol.js';

/** What a SharedClient needs from the browser. */
export interface TabPlatform {
  readonly locks: TabLockManager;
  readonly channel: TabChannel;
}

/**
 * Web Locks and a BroadcastChannel named for `name`, or undefined where either is missing (old browsers,
 * insecure contexts, Node): then the caller falls back to a client per tab. Call it only in the browser,
 * from an effect: it opens a channel.
 */
export function browserTabPlatform(name: string): TabPlatform | undefined {
  const locks = typeof navigator === 'undefined' ? undefined : (navigator as Partial<Navigator>).locks;
  if (locks === undefined || typeof locks.request !== 'function') return undefined;
  if (typeof BroadcastChannel !== 'function') return undefined;
  const channel = new BroadcastChannel(groupName(name));
  return {
    locks,
    channel: {
      post: (message) => channel.postMessage(message),
      listen: (handler) => {
        channel.onmessage = (event) => handler(event.data);
      },
      close: () => channel.close(),
    },
  };
}
