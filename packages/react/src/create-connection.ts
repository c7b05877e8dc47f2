import { type ConnectOptions, connect } from '@agentcast/client';
import type { AgentcastClientLike, StreamPosition } from './client-like.js';
import { browserTabPlatform } from './tabs/browser-tabs.js';
import { SharedClient } from './tabs/shared-client.js';

/** `shareAcrossTabs` in detail. */
export interface ShareAcrossTabsOptions {
  /**
   * Names the group of tabs that share one socket. Default: the gateway URL. Tabs of one origin that may be
   * signed in as different users must use different names (e.g. include the user id): the leader's token
   * decides whose events every tab of the group receives.
   */
  readonly name?: string;
  /** Events each tab keeps to fill another tab's gap after a leader change. Default 1000. */
  readonly historySize?: number;
}

/**
 * The connection a provider uses: a {@link SharedClient} when `share` is set and the browser has Web Locks
 * and BroadcastChannel, otherwise a client of its own (`connect()`). Browser-only: call it from an effect.
 */
export function createConnection(
  options: ConnectOptions,
  share: boolean | ShareAcrossTabsOptions | undefined,
  resumeFrom: StreamPosition | undefined,
): AgentcastClientLike {
  const start = resumeFrom ?? options.resumeFrom;
  if (share !== undefined && share !== false) {
    const { name = String(options.url), historySize } = share === true ? {} : share;
    const platform = browserTabPlatform(name);
    if (platform !== undefined) {
      return new SharedClient({
        name,
        ...platform,
        connect: (from) => connect({ ...options, resumeFrom: from }),
        resumeFrom: start,
        historySize,
        requestTimeoutMs: options.ackTimeoutMs,
        timers: options.timers,
        generateId: options.generateId,
      });
    }
  }
  return connect({ ...options, resumeFrom: start });
}
