import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { baselineConfig, exitOnSignal, httpHandler, verifyBearer } from './baseline-http.mjs';

/**
 * The Socket.IO 4.8 baseline: what most teams would pick instead. WebSocket transport only (no polling,
 * no compression, like the others), a jose HS256 check of `Authorization: Bearer` in a middleware, one room
 * per user, and the same publish endpoint doing `io.to(user).emit('event', {type, seq, ts, data})`.
 */
const { port, key, apiKey } = baselineConfig();
const seqs = new Map();

// Created with the publish handler, so Socket.IO (attached next) hands it every request not on its path.
const server = createServer(httpHandler({ apiKey, deliver }));
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
});

function deliver(userId, ev) {
  const seq = (seqs.get(userId) ?? 0) + 1;
  seqs.set(userId, seq);
  io.to(userId).emit('event', { type: ev.type, seq, ts: new Date().toISOString(), data: ev.data });
  return seq;
}

io.use((socket, next) => {
  void verifyBearer(socket.handshake.headers.authorization, key).then((userId) => {
    if (userId === undefined) {
      next(new Error('unauthorized'));
      return;
    }
    socket.data.userId = userId;
    next();
  });
});

io.on('connection', (socket) => {
  void socket.join(socket.data.userId);
});

server.listen(port, '127.0.0.1');
exitOnSignal(() => {
  void io.close();
});
