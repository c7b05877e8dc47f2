import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, type Frame, type Harness, startGateway } from '../helpers/gateway-harness.js';
import { eventsOf, eventWithSeq, frameWhere } from './support/frame-wait.js';
import { propertyParameters } from './support/property-parameters.js';

/**
 * docs/protocol.md §3, §4, §6 as a model-based property through a real gateway (memory engine, port 0):
 * random interleavings of publishes, connects, resumes (also while events are being published),
 * client and server (1012) disconnects, agent runs and cancels over 2–4 users. After the commands, every run has ended and a sentinel event fixes each user's head N; then
 * - isolation: every event a connection saw belongs to its user (published for it, or a run it started);
 * - one stream: the same seq is the same event on every connection of a user, and the published events
 *   sit at the seqs the publish answered with;
 * - order, no gap, no duplicate: a connection's events are consecutive seqs, starting right after its
 *   resume point (since for `ok`, the welcome's seq for `none`/`reset`);
 * - no loss: every open connection reaches N, and every closed one, resumed from its last seq, gets
 *   `resume: ok` and exactly the rest up to N;
 * - runs: each acked run starts with agent_started and has exactly one agent_completed, its last event;
 * - catch-up (docs/protocol.md F): a connection welcomed with `resume: "snapshot"` got one run_snapshot
 *   per run that had events on both sides of the welcome's seq, exact up to it: the snapshot's text plus
 *   the run's later chunks on that connection is the run's whole text.
 */

/** Connections per user the commands keep open at most (max_connections_per_user is 10). */
const MAX_OPEN_PER_USER = 3;

/** How a connection asks to resume; the `_catch_up` ones ask for run snapshots too (docs/protocol.md F). */
type ResumeMode = 'none' | 'zero' | 'latest' | 'beyond' | 'bad_epoch' | 'none_catch_up' | 'beyond_catch_up';

/** A connection's resume request, with catch-up. */
interface ResumeAsk {
  since?: number;
  epoch?: string;
  catch_up?: 'snapshot';
}

interface UserState {
  readonly id: string;
  /** seq -> marker of the event published there (from the 202 answer). */
  readonly published: Map<number, string>;
  /** Run ids acked to this user's connections, with the message id that started them. */
  readonly runs: Map<string, string>;
  epoch: string | undefined;
}

interface ConnRecord {
  readonly user: number;
  readonly client: Client;
  /** Seq the connection's stream starts after (since when resumed ok, else the welcome's seq). */
  readonly start: number;
  readonly epoch: string;
  closedByUs: boolean;
  resumed: boolean;
}

interface World {
  readonly h: Harness;
  readonly users: UserState[];
  readonly conns: ConnRecord[];
  counter: number;
}

const open = (w: World): ConnRecord[] => w.conns.filter((c) => !c.closedByUs);
const openOf = (w: World, user: number): ConnRecord[] => open(w).filter((c) => c.user === user);
const lastSeq = (c: ConnRecord): number => eventsOf(c.client).at(-1)?.seq ?? c.start;

async function openConnection(
  w: World,
  user: number,
  resume: ResumeAsk,
  via: 'query' | 'auth',
): Promise<{ client: Client; welcome: Frame }> {
  const token = await w.h.token(w.users[user]?.id ?? '');
  let client: Client;
  if (via === 'query') {
    const params = new URLSearchParams();
    if (resume.since !== undefined) params.set('since', String(resume.since));
    if (resume.epoch !== undefined) params.set('epoch', resume.epoch);
    if (resume.catch_up !== undefined) params.set('catch_up', resume.catch_up);
    const query = params.size > 0 ? `?${params}` : '';
    client = Client.open(`${w.h.wsUrl}${query}`, { headers: { Authorization: `Bearer ${token}` } });
  } else {
    client = Client.open(w.h.wsUrl);
    await client.opened();
    client.send({ type: 'auth', token, ...resume });
  }
  const welcome = await frameWhere(client, (f) => f.type === 'welcome', 'welcome');
  expect(client.frames[0]).toBe(welcome); // §2: the welcome comes before anything else
  return { client, welcome };
}

function record(w: World, user: number, client: Client, welcome: Frame, since?: number): ConnRecord {
  const data = welcome.data as { resume: string; seq: number; epoch: string };
  const conn: ConnRecord = {
    user,
    client,
    start: data.resume === 'ok' ? (since ?? 0) : data.seq,
    epoch: data.epoch,
    closedByUs: false,
    resumed: false,
  };
  const state = w.users[user];
  if (state !== undefined) state.epoch ??= data.epoch;
  w.conns.push(conn);
  return conn;
}

class Publish implements fc.AsyncCommand<World, World> {
  constructor(
    readonly user: number,
    readonly count: number,
    readonly via: 'http' | 'api',
  ) {}
  check(): boolean {
    return true;
  }
  async run(_m: World, w: World): Promise<void> {
    const state = w.users[this.user % w.users.length] as UserState;
    const markers = Array.from({ length: this.count }, () => `p${w.counter++}`);
    const events = markers.map((marker) => ({
      user_id: state.id,
      type: 'notification',
      data: { for: state.id, marker },
    }));
    let seqs: number[];
    if (this.via === 'http') {
      const res = await w.h.publish({ events });
      expect(res.status).toBe(202);
      seqs = (res.json as { results: { seq: number }[] }).results.map((r) => r.seq);
    } else {
      seqs = [];
      for (const { type, data } of events)
        seqs.push((await w.h.gateway.publish(state.id, { type, data })).seq);
    }
    for (const [i, seq] of seqs.entries()) {
      expect(state.published.has(seq), `seq ${seq} of ${state.id} handed out twice`).toBe(false);
      state.published.set(seq, markers[i] as string);
    }
  }
  toString(): string {
    return `publish(u${this.user}, ${this.count}, ${this.via})`;
  }
}

class Connect implements fc.AsyncCommand<World, World> {
  constructor(
    readonly user: number,
    readonly mode: ResumeMode,
    readonly via: 'query' | 'auth',
  ) {}
  check(w: World): boolean {
    return openOf(w, this.user % w.users.length).length < MAX_OPEN_PER_USER;
  }
  async run(_m: World, w: World): Promise<void> {
    const user = this.user % w.users.length;
    const state = w.users[user] as UserState;
    const latest = Math.max(0, ...w.conns.filter((c) => c.user === user).map(lastSeq));
    const request: ResumeAsk = {};
    let expected: string;
    switch (this.mode) {
      case 'none':
        expected = 'none';
        break;
      case 'none_catch_up':
        request.catch_up = 'snapshot';
        expected = 'snapshot';
        break;
      case 'beyond_catch_up':
        // F: what would be a reset is a catch-up.
        request.since = 1_000_000;
        if (state.epoch !== undefined) request.epoch = state.epoch;
        request.catch_up = 'snapshot';
        expected = 'snapshot';
        break;
      case 'zero':
        request.since = 0;
        expected = 'ok';
        break;
      case 'latest':
        request.since = state.epoch === undefined ? 0 : latest;
        if (state.epoch !== undefined) request.epoch = state.epoch;
        expected = 'ok';
        break;
      case 'beyond':
        // §4: since beyond the latest seq cannot be filled.
        request.since = 1_000_000;
        if (state.epoch !== undefined) request.epoch = state.epoch;
        expected = 'reset';
        break;
      case 'bad_epoch':
        request.since = 0;
        request.epoch = 'e_not_this_one';
        expected = 'reset';
        break;
    }
    const { client, welcome } = await openConnection(w, user, request, this.via);
    expect(welcome.data).toMatchObject({ user_id: state.id, resume: expected });
    record(w, user, client, welcome, request.since);
  }
  toString(): string {
    return `connect(u${this.user}, ${this.mode}, ${this.via})`;
  }
}

class Disconnect implements fc.AsyncCommand<World, World> {
  constructor(
    readonly pick: number,
    readonly how: 'close' | 'terminate',
  ) {}
  check(w: World): boolean {
    return open(w).length > 0;
  }
  async run(_m: World, w: World): Promise<void> {
    const list = open(w);
    const conn = list[this.pick % list.length] as ConnRecord;
    conn.closedByUs = true;
    if (this.how === 'close') conn.client.ws.close(1000);
    else conn.client.ws.terminate();
    await conn.client.closedWith();
  }
  toString(): string {
    return `disconnect(#${this.pick}, ${this.how})`;
  }
}

/** A closed connection comes back with its last seq and epoch: §4 promises `ok` and the exact rest. */
class Resume implements fc.AsyncCommand<World, World> {
  constructor(
    readonly pick: number,
    readonly via: 'query' | 'auth',
  ) {}
  #closed(w: World): ConnRecord[] {
    return w.conns.filter((c) => c.closedByUs && !c.resumed);
  }
  check(w: World): boolean {
    return this.#closed(w).length > 0;
  }
  async run(_m: World, w: World): Promise<void> {
    const candidates = this.#closed(w).filter((c) => openOf(w, c.user).length < MAX_OPEN_PER_USER);
    const conn = candidates[this.pick % Math.max(1, candidates.length)];
    if (conn === undefined) return;
    conn.resumed = true;
    const since = lastSeq(conn);
    const { client, welcome } = await openConnection(w, conn.user, { since, epoch: conn.epoch }, this.via);
    expect(welcome.data).toMatchObject({ resume: 'ok', epoch: conn.epoch });
    record(w, conn.user, client, welcome, since);
  }
  toString(): string {
    return `resume(#${this.pick}, ${this.via})`;
  }
}

/** §4: a resume while events are being published must still be exact (subscribe before reading history). */
class ResumeDuringPublish implements fc.AsyncCommand<World, World> {
  constructor(
    readonly user: number,
    readonly count: number,
  ) {}
  check(w: World): boolean {
    return openOf(w, this.user % w.users.length).length < MAX_OPEN_PER_USER;
  }
  async run(_m: World, w: World): Promise<void> {
    const user = this.user % w.users.length;
    const state = w.users[user] as UserState;
    const latest = Math.max(0, ...w.conns.filter((c) => c.user === user).map(lastSeq));
    const request = state.epoch === undefined ? { since: 0 } : { since: latest, epoch: state.epoch };
    const [opened] = await Promise.all([
      openConnection(w, user, request, 'query'),
      new Publish(user, this.count, 'api').run(w, w),
    ]);
    expect(opened.welcome.data).toMatchObject({ resume: 'ok' });
    record(w, user, opened.client, opened.welcome, request.since);
  }
  toString(): string {
    return `resume_during_publish(u${this.user}, ${this.count})`;
  }
}

/** The server closes every connection of a user with 1012 (Gateway.disconnectUser); they resume later. */
class ServerDisconnect implements fc.AsyncCommand<World, World> {
  constructor(readonly user: number) {}
  check(w: World): boolean {
    return openOf(w, this.user % w.users.length).length > 0;
  }
  async run(_m: World, w: World): Promise<void> {
    const user = this.user % w.users.length;
    const conns = openOf(w, user);
    // At least the open ones: a connection the client just dropped may not have reached the server yet.
    expect(w.h.gateway.disconnectUser((w.users[user] as UserState).id)).toBeGreaterThanOrEqual(conns.length);
    for (const conn of conns) {
      conn.closedByUs = true;
      expect(await conn.client.closedWith()).toBe(1012);
    }
  }
  toString(): string {
    return `server_disconnect(u${this.user})`;
  }
}

class UserMessage implements fc.AsyncCommand<World, World> {
  constructor(
    readonly pick: number,
    readonly text: string,
    readonly repeat: boolean,
  ) {}
  check(w: World): boolean {
    return open(w).length > 0;
  }
  async run(_m: World, w: World): Promise<void> {
    const list = open(w);
    const conn = list[this.pick % list.length] as ConnRecord;
    const state = w.users[conn.user] as UserState;
    const earlier = [...state.runs.entries()];
    const previous = this.repeat ? earlier[this.pick % Math.max(1, earlier.length)] : undefined;
    const id = previous?.[1] ?? `m${w.counter++}`;
    const from = conn.client.frames.length;
    conn.client.send({ type: 'user_message', id, data: { text: this.text, agent: 'demo' } });
    const answer = await frameWhere(
      conn.client,
      (f) => (f.type === 'ack' || f.type === 'error') && f.id === id,
      `answer to user_message ${id}`,
      5000,
      from,
    );
    if (previous !== undefined) {
      // §6: the same id within 10 minutes starts no second run.
      expect(answer).toMatchObject({ type: 'ack', data: { run_id: previous[0], duplicate: true } });
      return;
    }
    if (answer.type === 'error') {
      // Only max_runs_per_user may refuse a fresh message here.
      expect(answer.data).toMatchObject({ code: 'RATE_LIMITED' });
      return;
    }
    expect(answer.data).toMatchObject({ duplicate: false });
    state.runs.set((answer.data as { run_id: string }).run_id, id);
  }
  toString(): string {
    return `user_message(#${this.pick}, ${JSON.stringify(this.text)}${this.repeat ? ', repeat' : ''})`;
  }
}

/** F: a tab that opens while a run streams, with catch-up, after the run's first chunk was stored. */
class CatchUpMidRun implements fc.AsyncCommand<World, World> {
  constructor(readonly pick: number) {}
  check(w: World): boolean {
    return open(w).some((c) => openOf(w, c.user).length < MAX_OPEN_PER_USER);
  }
  async run(_m: World, w: World): Promise<void> {
    const list = open(w).filter((c) => openOf(w, c.user).length < MAX_OPEN_PER_USER);
    const conn = list[this.pick % list.length] as ConnRecord;
    const state = w.users[conn.user] as UserState;
    const id = `m${w.counter++}`;
    const from = conn.client.frames.length;
    conn.client.send({ type: 'user_message', id, data: { text: 'what is 6 * 7?', agent: 'demo' } });
    const answer = await frameWhere(
      conn.client,
      (f) => (f.type === 'ack' || f.type === 'error') && f.id === id,
      `answer to user_message ${id}`,
      5000,
      from,
    );
    if (answer.type === 'error') return; // max_runs_per_user
    const runId = (answer.data as { run_id: string }).run_id;
    state.runs.set(runId, id);
    await frameWhere(
      conn.client,
      (f) => f.run_id === runId && f.type === 'stream_chunk',
      'a chunk',
      5000,
      from,
    );
    const { client, welcome } = await openConnection(w, conn.user, { catch_up: 'snapshot' }, 'query');
    expect(welcome.data).toMatchObject({ resume: 'snapshot' });
    record(w, conn.user, client, welcome);
  }
  toString(): string {
    return `catch_up_mid_run(#${this.pick})`;
  }
}

class Cancel implements fc.AsyncCommand<World, World> {
  constructor(
    readonly pickRun: number,
    readonly pickConn: number,
    readonly crossUser: boolean,
  ) {}
  check(w: World): boolean {
    return w.users.some((u) => u.runs.size > 0) && open(w).length > 0;
  }
  async run(_m: World, w: World): Promise<void> {
    const runs = w.users.flatMap((u, user) => [...u.runs.keys()].map((runId) => ({ runId, user })));
    const target = runs[this.pickRun % runs.length];
    if (target === undefined) return;
    const from = open(w).filter((c) => (c.user === target.user) !== this.crossUser);
    const conn = from[this.pickConn % Math.max(1, from.length)];
    if (conn === undefined) return;
    const id = `c${w.counter++}`;
    conn.client.send({ type: 'cancel', id, data: { run_id: target.runId } });
    const answer = await frameWhere(
      conn.client,
      (f) => (f.type === 'ack' || f.type === 'error') && f.id === id,
      `answer to cancel ${id}`,
    );
    if (this.crossUser) {
      // §6: a user may not cancel another user's run, nor learn that it exists.
      expect(answer).toMatchObject({ type: 'error', data: { code: 'NOT_FOUND' } });
    } else {
      expect(answer).toMatchObject({ type: 'ack', data: { run_id: target.runId } });
    }
  }
  toString(): string {
    return `cancel(run #${this.pickRun}, #${this.pickConn}${this.crossUser ? ', other user' : ''})`;
  }
}

const commands = [
  fc
    .tuple(fc.nat(3), fc.integer({ min: 1, max: 4 }), fc.constantFrom('http' as const, 'api' as const))
    .map(([u, n, via]) => new Publish(u, n, via)),
  fc
    .tuple(
      fc.nat(3),
      fc.constantFrom<ResumeMode>(
        'none',
        'zero',
        'latest',
        'beyond',
        'bad_epoch',
        'none_catch_up',
        'beyond_catch_up',
      ),
      fc.constantFrom('query' as const, 'auth' as const),
    )
    .map(([u, mode, via]) => new Connect(u, mode, via)),
  fc
    .tuple(fc.nat(9), fc.constantFrom('close' as const, 'terminate' as const))
    .map(([pick, how]) => new Disconnect(pick, how)),
  fc
    .tuple(fc.nat(9), fc.constantFrom('query' as const, 'auth' as const))
    .map(([pick, via]) => new Resume(pick, via)),
  fc
    .tuple(fc.nat(9), fc.constantFrom('what is 6 * 7?', 'hello', 'search resume streams'), fc.boolean())
    .map(([pick, text, repeat]) => new UserMessage(pick, text, repeat)),
  fc.tuple(fc.nat(9), fc.nat(9), fc.boolean()).map(([run, conn, cross]) => new Cancel(run, conn, cross)),
  fc.tuple(fc.nat(3), fc.integer({ min: 1, max: 6 })).map(([u, n]) => new ResumeDuringPublish(u, n)),
  fc.nat(3).map((u) => new ServerDisconnect(u)),
  fc.nat(9).map((pick) => new CatchUpMidRun(pick)),
];

/** The identity of an event on the wire: equal on every connection that received that seq. */
function identity(frame: Frame): string {
  return JSON.stringify([frame.type, frame.seq, frame.epoch, frame.ts, frame.run_id, frame.data]);
}

/** Ends every run, fixes each user's head with a sentinel, then checks the properties listed above. */
async function settleAndCheck(w: World): Promise<void> {
  for (const [user, state] of w.users.entries()) {
    const full = await openConnection(w, user, { since: 0 }, 'query');
    const runIds = [...state.runs.keys()];
    for (const runId of runIds) {
      await frameWhere(
        full.client,
        (f) => f.type === 'agent_completed' && f.run_id === runId,
        `agent_completed of ${runId}`,
      );
    }
    const sentinel = await w.h.publish({ user_id: state.id, type: 'notification', data: { for: state.id } });
    const n = (sentinel.json as { results: { seq: number }[] }).results[0]?.seq ?? 0;
    await eventWithSeq(full.client, n, `${state.id} full stream`);
    const stream = eventsOf(full.client);
    // No loss, no gap, no duplicate: the full stream is exactly 1..N.
    expect(stream.map((f) => f.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const bySeq = new Map(stream.map((f) => [f.seq as number, f]));
    // Isolation: every event is the user's own publish or one of the runs it started.
    for (const f of stream) {
      if (f.run_id === undefined) expect(f.data).toMatchObject({ for: state.id });
      else expect(state.runs.has(f.run_id), `foreign run ${f.run_id} in ${state.id}'s stream`).toBe(true);
    }
    for (const [seq, marker] of state.published) expect(bySeq.get(seq)?.data).toMatchObject({ marker });
    for (const runId of runIds) {
      const events = stream.filter((f) => f.run_id === runId);
      expect(events[0]?.type).toBe('agent_started');
      expect(events.filter((f) => f.type === 'agent_completed')).toHaveLength(1);
      expect(events.at(-1)?.type).toBe('agent_completed');
    }
    for (const conn of w.conns.filter((c) => c.user === user)) {
      await checkConnection(w, conn, bySeq, n);
    }
    full.client.ws.close(1000);
  }
}

/** One connection's stream: consecutive from its start, same events as the full stream, nothing lost. */
async function checkConnection(w: World, conn: ConnRecord, bySeq: Map<number, Frame>, n: number) {
  if (!conn.closedByUs) {
    // Nobody closed it, so the server must not have either (no 4013, no gap close).
    await eventWithSeq(conn.client, n, 'an open connection');
    expect(conn.client.closeCode).toBeUndefined();
  }
  let seen = eventsOf(conn.client);
  if (conn.closedByUs) {
    const since = lastSeq(conn);
    const again = await openConnection(w, conn.user, { since, epoch: conn.epoch }, 'query');
    expect(again.welcome.data).toMatchObject({ resume: 'ok' });
    if (since < n) await eventWithSeq(again.client, n, 'the resumed rest');
    seen = [...seen, ...eventsOf(again.client)];
    again.client.ws.close(1000);
  }
  const expectedSeqs = Array.from({ length: n - conn.start }, (_, i) => conn.start + i + 1);
  expect(seen.map((f) => f.seq)).toEqual(expectedSeqs);
  for (const f of seen) expect(identity(f)).toBe(identity(bySeq.get(f.seq as number) as Frame));
  if ((conn.client.frames[0]?.data as { resume?: string } | undefined)?.resume === 'snapshot') {
    checkCatchUp(conn, bySeq, seen);
  }
}

/** F: the snapshots of a catch-up, with the run's later events, are each run whole. */
function checkCatchUp(conn: ConnRecord, bySeq: Map<number, Frame>, seen: Frame[]): void {
  const snapshots = conn.client.frames.filter((f) => f.type === 'run_snapshot');
  const all = [...bySeq.values()];
  const runIds = new Set(all.filter((f) => f.run_id !== undefined).map((f) => f.run_id as string));
  const chunks = (frames: Frame[], runId: string) =>
    frames
      .filter((f) => f.run_id === runId && f.type === 'stream_chunk')
      .map((f) => String(f.data?.text))
      .join('');
  for (const runId of runIds) {
    const before = all.filter((f) => f.run_id === runId && (f.seq as number) <= conn.start);
    const after = all.filter((f) => f.run_id === runId && (f.seq as number) > conn.start);
    const snapshot = snapshots.find((f) => f.run_id === runId)?.data as
      | { last_seq: number; text: string; status: string }
      | undefined;
    if (before.length > 0 && after.length > 0) {
      expect(snapshot, `no snapshot of ${runId}, running at seq ${conn.start}`).toBeDefined();
    }
    if (snapshot === undefined) continue;
    expect(snapshot.last_seq).toBe(before.at(-1)?.seq);
    expect(snapshot.text + chunks(seen, runId)).toBe(chunks(all, runId));
  }
}

describe('delivery through a real gateway (model-based property)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('every connection sees exactly its user’s stream: isolated, ordered, gap-free, resumable; runs end once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 0, max: 5 }),
        fc.commands(commands, { maxCommands: 30, size: 'max' }),
        async (userCount, demoDelayMs, cmds) => {
          await h?.close();
          h = await startGateway({ demoDelayMs });
          const world: World = {
            h,
            users: Array.from({ length: userCount }, (_, i) => ({
              id: `user-${i}`,
              published: new Map(),
              runs: new Map(),
              epoch: undefined,
            })),
            conns: [],
            counter: 0,
          };
          // Every user starts with one plain connection, so the commands have targets from the first one.
          for (const user of world.users.keys()) {
            const { client, welcome } = await openConnection(world, user, {}, 'query');
            record(world, user, client, welcome);
          }
          await fc.asyncModelRun(() => ({ model: world, real: world }), cmds);
          await settleAndCheck(world);
        },
      ),
      propertyParameters({ numRuns: 50 }),
    );
  }, 120_000);
});
