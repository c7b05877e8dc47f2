"""Real processes and sockets for the tests: the gateway (packages/server/dist/cli.js), a TCP proxy that
drops answers, a minimal WebSocket client, the gateway's history. Loopback only; every wait is bounded."""

from __future__ import annotations

import base64
import json
import os
import queue
import secrets
import socket
import struct
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "packages" / "server" / "dist" / "cli.js"
API_KEY = "python-test-api-key-0123456789"
JWT_SECRET = "python-test-jwt-secret-long-enough-for-hs256"
START_TIMEOUT_S = 15


class Gateway:
    """``agentcast serve`` as a child process on a free loopback port (env test, memory engine)."""

    def __init__(self, *args: str) -> None:
        if not CLI.exists():
            raise RuntimeError(f"{CLI} is missing: run `npm run build` first (npm test does)")
        command = ["node", str(CLI), "serve", "--port", "0", "--env", "test", "--host", "127.0.0.1",
                   "--api-key", API_KEY, "--jwt-secret", JWT_SECRET,
                   # No drain delay: no balancer to wait for, and each stop would cost the default 5 s.
                   "--drain-delay-ms", "0", *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_listening()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def _wait_listening(self) -> int:
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                self.close()
                raise RuntimeError(f"the gateway did not listen within {START_TIMEOUT_S} s")
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry.get("port"), int) and "engine" in entry:
                return entry["port"]

    def history(self, user_id: str) -> List[Dict[str, Any]]:
        request = urllib.request.Request(f"{self.url}/v1/users/{user_id}/history",
                                         headers={"Authorization": f"Bearer {API_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["events"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class DroppingProxy:
    """Forwards loopback TCP connections to ``port``; of the first ``drop`` connections it swallows the
    answer and closes the client's socket once the upstream answered: the request was handled, the
    client never learns it (an ambiguous failure)."""

    def __init__(self, port: int, drop: int = 1) -> None:
        self._upstream = port
        self._drop = drop
        self.connections = 0
        self.dropped = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            drop = self.connections <= self._drop
            upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=10)
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, drop), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, drop: Optional[bool]) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if drop:
                    self.dropped += 1
                    break
                sink.sendall(data)
        except OSError:
            pass  # either side closed: the other is closed below
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed
                s.close()

    def close(self) -> None:
        self._server.close()


class WebSocket:
    """Just enough of RFC 6455 to speak to the gateway: text frames, masked from the client."""

    def __init__(self, port: int, token: str, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"Sec-WebSocket-Protocol: agentcast.v1\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {head!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"upgrade refused: {head.decode(errors='replace')}")
        self.close_code: Optional[int] = None

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("connection closed")
            data += chunk
        return data

    def recv(self) -> Optional[Dict[str, Any]]:
        """The next text frame as JSON; None after a close frame (its code in close_code)."""
        for _ in range(10_000):
            first, second = self._exact(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._exact(8))[0]
            payload = self._exact(length)
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if opcode == 0x9:
                self._send(0xA, payload)
        raise RuntimeError("no text frame in 10,000 frames")

    def send(self, frame: Dict[str, Any]) -> None:
        self._send(0x1, json.dumps(frame).encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = secrets.token_bytes(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def run(self, text: str, message_id: str = "m1") -> List[Dict[str, Any]]:
        """Sends a user_message and returns its run's events, agent_started to agent_completed."""
        self.send({"type": "user_message", "id": message_id, "data": {"text": text}})
        run_id = None
        events: List[Dict[str, Any]] = []
        for _ in range(1000):
            frame = self.recv()
            if frame is None:
                raise ConnectionError(f"closed {self.close_code} during the run")
            if frame["type"] == "ack" and frame.get("id") == message_id:
                run_id = frame["data"]["run_id"]
            elif frame["type"] == "error":
                raise RuntimeError(f"error frame: {frame}")
            elif run_id is not None and frame.get("run_id") == run_id:
                events.append(frame)
                if frame["type"] == "agent_completed":
                    return events
        raise RuntimeError("the run did not complete within 1000 frames")

    def close(self) -> None:
        self.sock.close()


def types(events: Sequence[Dict[str, Any]]) -> List[str]:
    return [e["type"] for e in events]
