import type { TabChannel, TabLockManager } from '../../src/tabs/shared-client.js';
import type { TabMessage } from '../../src/tabs/tab-protocol.js';

/** A tab of a {@link FakeBrowser}: its end of the channel and of the lock manager. */
export interface FakeTab {
  readonly name: string;
  readonly channel: TabChannel;
  readonly locks: TabLockManager;
  /** Messages this tab received, in order (after any drop rule). */
  readonly received: TabMessage[];
  alive: boolean;
}

interface LockRequest {
  readonly tab: FakeTab;
  readonly name: string;
  readonly callback: (lock: unknown) => Promise<void>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One origin's BroadcastChannel and Web Locks, deterministic: posts and lock grants are queued as tasks
 * that run only when the test calls {@link run}, in FIFO order like a browser's task queue. Messages are
 * structured-cloned as the real channel does, never delivered to their sender, and a dead tab neither
 * sends nor receives. The lock is exclusive and granted in request order.
 */
export class FakeBrowser {
  readonly #tabs: FakeTab[] = [];
  readonly #handlers = new Map<FakeTab, Array<(data: unknown) => void>>();
  readonly #tasks: Array<() => void> = [];
  readonly #queue: LockRequest[] = [];
  #holder: LockRequest | undefined;
  #release: (() => void) | undefined;
  /** Drops messages for which it returns true (a lost or late message, for gap tests). */
  drop: ((to: FakeTab, message: TabMessage) => boolean) | undefined;

  tab(name: string): FakeTab {
    const handlers: Array<(data: unknown) => void> = [];
    const tab: FakeTab = {
      name,
      alive: true,
      received: [],
      channel: {
        post: (message) => {
          if (!tab.alive) return;
          const copy = structuredClone(message);
          for (const other of this.#tabs) {
            if (other === tab) continue;
            this.#tasks.push(() => {
              if (!other.alive || this.drop?.(other, copy)) return;
              other.received.push(copy);
              for (const h of this.#handlers.get(other) ?? []) h(structuredClone(copy));
            });
          }
        },
        listen: (handler) => {
          handlers.push(handler);
        },
        close: () => {
          tab.alive = false;
        },
      },
      locks: {
        request: (lockName, options, callback) =>
          new Promise((resolve, reject) => {
            const request: LockRequest = { tab, name: lockName, callback, resolve, reject };
            options.signal.addEventListener('abort', () => {
              const i = this.#queue.indexOf(request);
              if (i < 0) return;
              this.#queue.splice(i, 1);
              reject(new DOMException('aborted', 'AbortError'));
            });
            this.#queue.push(request);
            this.#grant();
          }),
      },
    };
    this.#handlers.set(tab, handlers);
    this.#tabs.push(tab);
    return tab;
  }

  /** The tab holding the lock. */
  get leader(): FakeTab | undefined {
    return this.#holder?.tab;
  }

  /** Kills a tab as closing it does: no more messages either way, and the browser releases its lock. */
  crash(tab: FakeTab): void {
    tab.alive = false;
    for (let i = this.#queue.length - 1; i >= 0; i--)
      if (this.#queue[i]?.tab === tab) this.#queue.splice(i, 1);
    if (this.#holder?.tab === tab) this.#release?.();
  }

  /** Runs queued tasks (deliveries, lock grants, and what they queue) until none is left. */
  async run(maxTasks = 10_000): Promise<void> {
    for (let n = 0; n < maxTasks; n++) {
      // Let promise callbacks (lock releases, acks) settle between tasks, as a browser does.
      await flushMicrotasks();
      const task = this.#tasks.shift();
      if (task === undefined) {
        await flushMicrotasks();
        if (this.#tasks.length === 0) return;
        continue;
      }
      task();
    }
    throw new Error(`FakeBrowser.run: still busy after ${maxTasks} tasks`);
  }

  #grant(): void {
    if (this.#holder !== undefined) return;
    const next = this.#queue.shift();
    if (next === undefined) return;
    this.#holder = next;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#holder = undefined;
      this.#release = undefined;
      next.resolve(undefined);
      this.#grant();
    };
    this.#release = release;
    this.#tasks.push(() => {
      if (!next.tab.alive) {
        release();
        return;
      }
      next.callback({ name: next.name }).then(release, release);
    });
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
