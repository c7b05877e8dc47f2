import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fdLimit } from './proc-stats.mjs';

/** This process's open-files limit (soft), as the results have always recorded it: a string. */
function ownFdLimit() {
  try {
    return String(fdLimit(process.pid).soft);
  } catch {
    return 'unknown';
  }
}

function gitCommit(root) {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function packageVersion(root, name) {
  try {
    return JSON.parse(readFileSync(`${root}/node_modules/${name}/package.json`, 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** What the figures were measured on: reported in the JSON and at the top of BENCHMARKS.md. */
export function machineInfo(root) {
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    fd_limit: ownFdLimit(),
    load_average_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
    agentcast_commit: gitCommit(root),
    versions: {
      ws: packageVersion(root, 'ws'),
      'socket.io': packageVersion(root, 'socket.io'),
      jose: packageVersion(root, 'jose'),
    },
  };
}
