import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnProcess } from './children.mjs';
import { awaitHealthz } from './healthz.mjs';
import { rssBytes } from './proc-stats.mjs';

/** Debian's nginx and its nchan module (`apt-get install nginx-light libnginx-mod-nchan`). */
const NGINX = '/usr/sbin/nginx';
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/** Whether this machine can run the nchan baseline. */
export function nchanAvailable() {
  return existsSync(NGINX) && existsSync(NCHAN_MODULE);
}

/**
 * The nginx configuration of the nchan baseline: one process (no master, one worker), so its pid's CPU and
 * RSS are the whole server's, as for the Node servers. `/pub/<user>` takes HTTP POSTs and WebSocket
 * publishers, `/sub/<user>` WebSocket subscribers; each channel keeps its last 100 messages (nchan's own
 * history, as agentcast keeps one). No authentication: nchan would ask an upstream per subscriber
 * (`nchan_authorize_request`), so the baseline does strictly less than agentcast here, as bare ws does
 * elsewhere.
 */
function nchanConfig(dir, port) {
  return `load_module ${NCHAN_MODULE};
daemon off;
master_process off;
worker_processes 1;
error_log stderr warn;
pid ${join(dir, 'nginx.pid')};
worker_rlimit_nofile 65536;
events { worker_connections 40000; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  nchan_shared_memory_size 512m;
  server {
    listen 127.0.0.1:${port};
    location = /healthz { return 200 "ok"; }
    location ~ ^/pub/(.+)$ {
      nchan_publisher http websocket;
      nchan_channel_id $1;
      nchan_message_buffer_length 100;
      nchan_message_timeout 300s;
    }
    location ~ ^/sub/(.+)$ {
      nchan_subscriber websocket;
      nchan_channel_id $1;
    }
  }
}
`;
}

/**
 * Starts nginx with nchan on `port` (pinned to `cpus` when given) and resolves once /healthz answers, with
 * the same face as startServer's Node servers. `publishProtocol` tells the publisher how to reach it:
 * `nchan-http` (one POST per event: nchan publishes one message per request) or `nchan-ws` (one publishing
 * WebSocket per user, one message per frame).
 */
export async function startNchan({ kind, port, cpus, publishProtocol }) {
  const dir = mkdtempSync(join(tmpdir(), 'agentcast-bench-nchan-'));
  mkdirSync(join(dir, 'body'));
  writeFileSync(join(dir, 'nginx.conf'), nchanConfig(dir, port));
  const proc = spawnProcess(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    cpus,
    label: `${kind} server`,
  });
  const base = `http://127.0.0.1:${port}`;
  await awaitHealthz(proc, base, kind);
  return {
    kind,
    proc,
    port,
    base,
    wsBase: `ws://127.0.0.1:${port}`,
    pid: proc.pid,
    publishProtocol,
    /** nginx has no JavaScript heap: only VmRSS is measured (heap figures are left out, not zero). */
    async memory() {
      return { vmrss: rssBytes(proc.pid) };
    },
    async stats() {
      return undefined;
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
