import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { baselineConfig, exitOnSignal, httpHandler, verifyBearer } from './baseline-http.mjs';

/**
 * The bare `ws` baseline: what a team writes by hand, and the practical limit for Node.
 * Auth: jose HS256 verify of `Authorization: Bearer` before the upgrade completes (as agentcast does);
 * state: Map user -> { seq, sockets }; publish: for each event one JSON.stringify, then send to each socket.
 * No history, no resume, no limits, no metrics: it does strictly less than agentcast.
 */
const { port, key, apiKey } = baselineConfig();
const users = new Map();

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

function deliver(userId, ev) {
  let entry = users.get(userId);
  if (entry === undefined) {
    entry = { seq: 0, sockets: new Set() };
    users.set(userId, entry);
  }
  entry.seq += 1;
  if (entry.sockets.size === 0) return entry.seq;
  const frame = JSON.stringify({
    type: ev.type,
    seq: entry.seq,
    ts: new Date().toISOString(),
    data: ev.data,
  });
  for (const ws of entry.sockets) ws.send(frame);
  return entry.seq;
}

const server = createServer(httpHandler({ apiKey, deliver }));

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  void verifyBearer(req.headers.authorization, key).then((userId) => {
    if (userId === undefined) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let entry = users.get(userId);
      if (entry === undefined) {
        entry = { seq: 0, sockets: new Set() };
        users.set(userId, entry);
      }
      entry.sockets.add(ws);
      ws.on('close', () => entry.sockets.delete(ws));
      ws.on('error', () => ws.terminate());
      ws.send(`{"type":"welcome","data":{"user_id":${JSON.stringify(userId)},"seq":${entry.seq}}}`);
    });
  });
});

server.listen(port, '127.0.0.1');
exitOnSignal(() => server.close());
