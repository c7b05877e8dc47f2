import { spawn } from 'node:child_process';

/**
 * Every child process of a run. Each one is tracked from spawn to exit, so a failed or timed-out scenario,
 * an error or Ctrl-C can kill them all; `killAll` is also wired to process exit by run.mjs.
 */
const live = new Set();

/** How many children are still running. */
export function liveChildren() {
  return live.size;
}

/**
 * Spawns `node <args>` with an IPC channel, optionally pinned to CPUs with taskset. stdout/stderr are kept
 * (last 50 lines) for error messages.
 */
export function spawnNode(nodeArgs, { cpus, env, label }) {
  return spawnProcess(process.execPath, nodeArgs, { cpus, env, label, ipc: true });
}

/**
 * Spawns any program (nginx for the nchan baseline; node through {@link spawnNode}), tracked like every
 * child. Without `ipc` the process answers no `call`.
 */
export function spawnProcess(program, programArgs, { cpus, env = {}, label, ipc = false }) {
  const command = cpus === undefined ? program : 'taskset';
  const args = cpus === undefined ? programArgs : ['-c', cpus, program, ...programArgs];
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const tail = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > 50) tail.shift();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(proc);
      resolve(code ?? signal);
    });
  });
  let nextId = 1;
  const pending = new Map();
  child.on('message', (msg) => {
    const waiter = msg && typeof msg === 'object' ? pending.get(msg.id) : undefined;
    if (waiter === undefined) return;
    pending.delete(msg.id);
    waiter(msg);
  });
  // An IPC write to a child that just died fails asynchronously; the call's own timeout reports it.
  child.on('error', (err) => tail.push(`spawn error: ${err.message}`));
  const proc = {
    label,
    child,
    exited,
    get pid() {
      return child.pid;
    },
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    tail: () => tail.join('\n'),
    /** Sends `{cmd, args}` and resolves with the worker's result; rejects on error, exit or timeout. */
    call(cmd, args = {}, timeoutMs = 30_000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${label}: "${cmd}" got no answer in ${timeoutMs} ms`));
        }, timeoutMs);
        const onExit = (code) => {
          clearTimeout(timer);
          pending.delete(id);
          reject(new Error(`${label} exited (${code}) during "${cmd}": ${tail.slice(-5).join(' | ')}`));
        };
        void exited.then(onExit);
        pending.set(id, (msg) => {
          clearTimeout(timer);
          if (msg.ok === false) reject(new Error(`${label}: ${cmd}: ${msg.error}`));
          else resolve(msg.result ?? msg.mem);
        });
        if (!proc.alive || child.connected !== true) {
          onExit(child.exitCode ?? 'no ipc');
          return;
        }
        child.send(msg0(cmd, id, args));
      });
    },
    /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
    async stop(graceMs = 5000) {
      if (!proc.alive) return;
      child.kill('SIGTERM');
      let timer;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      if (proc.alive) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  live.add(proc);
  return proc;
}

/** The mem probe answers `{type:'bench:mem'}`; workers answer `{cmd}`. */
function msg0(cmd, id, args) {
  return cmd === 'bench:mem' ? { type: 'bench:mem', id } : { id, cmd, args };
}

/** Kills every child at once (SIGKILL); used on exit, error and Ctrl-C. */
export function killAll() {
  for (const proc of live) {
    try {
      proc.child.kill('SIGKILL');
    } catch {
      // already gone: nothing to kill
    }
  }
}

/** Stops every child gracefully (parallel), then kills what is left. */
export async function stopAll(graceMs = 3000) {
  await Promise.all([...live].map((proc) => proc.stop(graceMs)));
}
