// TEMPORARY: the API of gateway/run-stream.ts (/work/briefs/run-stream-api.md) until the integrator lands it
// on main; deleted at the merge.
import type { RunSnapshot } from '@agentcast/client';
import type { Engine } from '../../engine/engine.js';
import type { UserHub } from '../../gateway/user-hub.js';
import type { StoredEvent } from '../../protocol/events.js';

export type RunStreamFrom =
  | { readonly kind: 'start' }
  | { readonly kind: 'after'; readonly epoch: string; readonly seq: number };

export interface RunStreamSink {
  snapshot(snapshot: RunSnapshot, reason: 'start' | 'reset'): void;
  event(event: StoredEvent): void;
  end(reason: 'ended' | 'lost' | 'closed'): void;
}

export type RunFollow =
  | { readonly ok: true; close(): void }
  | { readonly ok: false; readonly code: 'NOT_FOUND' | 'UNAVAILABLE' };

export interface RunStreamContext {
  readonly engine: Engine;
  readonly hub: UserHub;
}

export interface RunFollower {
  follow(
    runId: string,
    from: RunStreamFrom,
    sink: RunStreamSink,
    options?: { pending?: boolean },
  ): Promise<RunFollow>;
  close(): void;
}

export function subscribeRuns(_ctx: RunStreamContext, _userId: string): Promise<RunFollower> {
  throw new Error('run-stream core not merged yet');
}

export async function activeRunOfThread(
  ctx: RunStreamContext,
  userId: string,
  threadId: string,
): Promise<RunSnapshot | undefined> {
  const runs = await ctx.engine.runSnapshots(userId, { state: 'active', threadId, limit: 1 });
  return runs[0];
}
