import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const TICKS_PER_S = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_S;
}

/** Resident set size in bytes, from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) * 1024;
}

/** A CPU meter for one process: call `start`, then `stop` returns the share of one core used in between. */
export function cpuMeter(pid) {
  let cpu0 = 0;
  let t0 = 0n;
  return {
    start() {
      cpu0 = cpuSeconds(pid);
      t0 = process.hrtime.bigint();
    },
    stop() {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const used = cpuSeconds(pid) - cpu0;
      return { cpuSeconds: used, wallSeconds: seconds, cores: used / seconds };
    },
  };
}

/**
 * Seconds a process's main thread (its event loop: the thread whose id is the pid) has spent runnable but
 * waiting for a CPU, from /proc/<pid>/schedstat (second field, ns). Its own work does not count, only the
 * time other processes held the CPU it could have run on. NaN where the kernel has no schedstat.
 */
export function runQueueWaitSeconds(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

/**
 * A contention meter for one process: `stop` returns the share of the window its event loop was ready to
 * run but waiting for a CPU (0 = never, 0.5 = half the window). On a shared machine this is what turns
 * into latency that is not the server's: an event published while the loop waits is delivered when it
 * runs again, whatever the server.
 */
export function cpuWaitMeter(pid) {
  let wait0 = 0;
  let t0 = 0n;
  return {
    start() {
      wait0 = runQueueWaitSeconds(pid);
      t0 = process.hrtime.bigint();
    },
    stop() {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return (runQueueWaitSeconds(pid) - wait0) / seconds;
    },
  };
}

/** The 1-minute load average, a noise indicator recorded with every measurement. */
export function loadAverage() {
  return Math.round(os.loadavg()[0] * 100) / 100;
}

/** The "Max open files" of a process (soft, the one enforced, and hard), from /proc/<pid>/limits. */
export function fdLimit(pid) {
  const match = /^Max open files\s+(\d+)\s+(\d+|unlimited)/m.exec(
    readFileSync(`/proc/${pid}/limits`, 'utf8'),
  );
  if (match === null) throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  return {
    soft: Number(match[1]),
    hard: match[2] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[2]),
  };
}

/** File descriptors a process holds open right now (entries of /proc/<pid>/fd). */
export function openFds(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}
