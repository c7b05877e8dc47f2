import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AgentEvent } from '../../../packages/client/src/agent-event.js';
import type { AgentcastClient } from '../../../packages/client/src/agentcast-client.js';
import { connect } from '../../../packages/client/src/connect.js';
import { TOKEN } from './client-harness.js';

/**
 * The SDK against the `ws` package over loopback (Node users pass `ws`): the subprotocols arrive as the
 * gateway expects, text frames reach handlers as strings, and abandoning a socket that is still
 * connecting does not throw (ws emits 'error' then). A stand-in server, not the gateway.
 */
describe('AgentcastClient with the ws package', () => {
  let server: WebSocketServer | undefined;
  let client: AgentcastClient | undefined;
  afterEach(async () => {
    await client?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  function listen(): Promise<string> {
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: (protocols) => (protocols.has('agentcast.v1') ? 'agentcast.v1' : false),
    });
    server = wss;
    return new Promise((resolve) =>
      wss.on('listening', () => resolve(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`)),
    );
  }

  it('authenticates by subprotocol, receives the welcome and events, and resumes with since/epoch', async () => {
    const url = await listen();
    const seen: { protocols: string[] | undefined; url: string | undefined }[] = [];
    server?.on('connection', (socket, request) => {
      // ws joins offered subprotocols with "," and browsers with ", ": the gateway must accept both.
      const protocols = request.headers['sec-websocket-protocol']?.split(/\s*,\s*/);
      seen.push({ protocols, url: request.url });
      socket.send(
        JSON.stringify({
          type: 'welcome',
          data: { epoch: 'e1', seq: 0, resume: seen.length > 1 ? 'ok' : 'none' },
        }),
      );
      if (seen.length === 1) {
        socket.send(JSON.stringify({ type: 'note', seq: 1, epoch: 'e1', ts: 't', data: {} }));
        socket.close(1012);
      } else {
        socket.send(JSON.stringify({ type: 'note', seq: 2, epoch: 'e1', ts: 't', data: {} }));
      }
    });
    const events: AgentEvent[] = [];
    const done = new Promise<void>((resolve) => {
      client = connect({ url, getToken: () => TOKEN, WebSocket, random: () => 0, heartbeat: false });
      client.on('note', (event) => {
        events.push(event);
        if (event.seq === 2) resolve();
      });
    });
    await done;
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    expect(seen).toEqual([
      { protocols: ['agentcast.v1', `bearer.${TOKEN}`], url: '/ws?catch_up=snapshot' },
      { protocols: ['agentcast.v1', `bearer.${TOKEN}`], url: '/ws?catch_up=snapshot&since=1&epoch=e1' },
    ]);
  });

  it('closes a socket that is still connecting without an unhandled error', async () => {
    const url = await listen();
    client = connect({ url, getToken: () => TOKEN, WebSocket, heartbeat: false });
    await new Promise((resolve) => setImmediate(resolve)); // the token promise settled; the socket exists
    await client.close();
    expect(client.state).toBe('closed');
    // ws reports the aborted handshake as an 'error' on a later tick; an unhandled one would fail the run.
    await new Promise((resolve) => setImmediate(resolve));
  });
});
