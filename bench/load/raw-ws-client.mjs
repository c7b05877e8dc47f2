import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

/**
 * A minimal WebSocket client (RFC 6455) for load generation: one net.Socket, frames counted straight from
 * the byte stream with no per-message object or event, so the receivers cost far less CPU than the servers
 * they measure. It speaks only what the bench needs: the upgrade with extra headers, unfragmented text
 * frames from the server, answering pings, sending short masked text frames, and the close frame.
 * It does not check Sec-WebSocket-Accept: it talks to servers on loopback that it started itself.
 */

const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Opens a connection. Callbacks: `onOpen()` after the 101, `onFrame(buf, start, end)` per text/binary frame
 * (the bytes are only valid during the call), `onClose(code)` once.
 */
export function openRawWebSocket({ host, port, path, headers, localAddress, onOpen, onFrame, onClose }) {
  const socket = connect({ host, port, localAddress, noDelay: true });
  let upgraded = false;
  let pending;
  let closed = false;
  let closeCode = 1006;

  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ];
  socket.on('connect', () => socket.write(lines.join('\r\n')));

  function finish() {
    if (closed) return;
    closed = true;
    onClose(closeCode);
  }
  socket.on('error', () => socket.destroy());
  socket.on('close', finish);

  function send(opcode, payload) {
    if (socket.destroyed) return;
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (body.length > 0xffff) throw new Error('raw client sends frames of at most 64 KiB');
    // Client frames must be masked; a zero mask leaves the payload as is (the server still unmasks it).
    // Payloads past 125 bytes carry a 16-bit length after the 126 marker.
    const head = body.length > 125 ? 8 : 6;
    const frame = Buffer.alloc(head + body.length);
    frame[0] = 0x80 | opcode;
    if (head === 8) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(body.length, 2);
    } else {
      frame[1] = 0x80 | body.length;
    }
    body.copy(frame, head);
    socket.write(frame);
  }

  function parse(buf) {
    let i = 0;
    while (buf.length - i >= 2) {
      const opcode = buf[i] & 0x0f;
      let len = buf[i + 1] & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - i < 4) break;
        len = buf.readUInt16BE(i + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - i < 10) break;
        len = Number(buf.readBigUInt64BE(i + 2));
        head = 10;
      }
      if (buf.length - i < head + len) break;
      const start = i + head;
      const end = start + len;
      if (opcode === OP_TEXT || opcode === OP_BINARY) onFrame(buf, start, end);
      else if (opcode === OP_PING) send(0xa, buf.subarray(start, end));
      else if (opcode === OP_CLOSE) {
        closeCode = len >= 2 ? buf.readUInt16BE(start) : 1005;
        send(OP_CLOSE, len >= 2 ? buf.subarray(start, start + 2) : Buffer.alloc(0));
        socket.end();
      }
      i = end;
    }
    return i === buf.length ? undefined : Buffer.from(buf.subarray(i));
  }

  socket.on('data', (chunk) => {
    let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    if (!upgraded) {
      const at = buf.indexOf(HEADER_END);
      if (at === -1) {
        pending = buf;
        return;
      }
      const status = buf.toString('latin1', 0, 12);
      if (status !== 'HTTP/1.1 101') {
        closeCode = Number(status.slice(9)) || 1006; // an HTTP refusal: report its status as the code
        socket.destroy();
        return;
      }
      upgraded = true;
      onOpen();
      buf = buf.subarray(at + 4);
    }
    if (buf.length > 0) pending = parse(buf);
  });

  return {
    sendText: (text) => send(OP_TEXT, text),
    close: () => socket.destroy(),
    get open() {
      return upgraded && !closed;
    },
  };
}
