import type { ConnectOptions } from '@agentcast/client';
import { createContext, type ReactNode, useEffect, useRef, useState } from 'react';
import { AgentcastStore } from './agentcast-store.js';
import { createConnection, type ShareAcrossTabsOptions } from './create-connection.js';

/** The props of {@link AgentcastProvider}: the client's `connect()` options and a few of its own. */
export interface AgentcastProviderProps extends ConnectOptions {
  readonly children?: ReactNode;
  /**
   * One WebSocket per browser for all tabs of this origin (`true`, or options). Falls back to a socket per
   * tab where Web Locks or BroadcastChannel are missing. See README.md.
   */
  readonly shareAcrossTabs?: boolean | ShareAcrossTabsOptions;
  /** Events kept for `useEvents` (oldest dropped first). Default 10 000. */
  readonly maxEvents?: number;
  /** Finished runs kept for `useRun` beyond those on screen (oldest dropped first). Default 1 000. */
  readonly maxRuns?: number;
}

export const AgentcastContext = createContext<AgentcastStore | null>(null);

/**
 * Owns one agentcast client for the tree below it. The client is created in an effect, so rendering on a
 * server opens nothing; StrictMode's double mount reuses it. The options are read once, when the provider
 * mounts (give it a new `key` to connect elsewhere); `getToken` is always the latest one passed.
 */
export function AgentcastProvider(props: AgentcastProviderProps): ReactNode {
  const { children, shareAcrossTabs, maxEvents, maxRuns, getToken, ...options } = props;
  const latestGetToken = useRef(getToken);
  useEffect(() => {
    latestGetToken.current = getToken;
  }, [getToken]);
  const [store] = useState(
    () =>
      new AgentcastStore({
        connect: (resumeFrom) =>
          createConnection(
            { ...options, getToken: () => latestGetToken.current() },
            shareAcrossTabs,
            resumeFrom,
          ),
        maxEvents,
        maxRuns,
      }),
  );
  useEffect(() => store.retain(), [store]);
  return <AgentcastContext.Provider value={store}>{children}</AgentcastContext.Provider>;
}
