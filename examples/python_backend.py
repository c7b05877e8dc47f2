#!/usr/bin/env python3
"""An agent backend for agentcast, standard library only (docs/agents.md).

Two ways to send a user's agent events through the gateway:

1. ``serve``: a webhook backend for the built-in ``webhook`` agent. The gateway POSTs each user
   message here (signed with HMAC-SHA256); this answers with the run's events as NDJSON, one per
   line, streamed with small pauses so you can watch them arrive::

       python3 examples/python_backend.py serve --port 8787 --secret dev-secret
       agentcast serve --default-agent webhook --agent-url http://127.0.0.1:8787/ \\
           --agent-secret dev-secret

   ``--format ag-ui`` streams the same run as AG-UI events instead; the gateway maps them.

2. ``publish``: push a whole run yourself with ``POST /v1/publish`` (docs/protocol.md §8)::

       python3 examples/python_backend.py publish --gateway http://127.0.0.1:8080 \\
           --api-key dev-key --user u1 --text "What is 6 * 7?"

Signature scheme (the gateway signs, this verifies): ``X-Agentcast-Timestamp`` is the Unix time in
seconds; ``X-Agentcast-Signature`` is ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<raw body>``
keyed with the shared secret. Requests more than 300 s off this machine's clock are refused, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

SIGNATURE_HEADER = "X-Agentcast-Signature"
TIMESTAMP_HEADER = "X-Agentcast-Timestamp"
TOLERANCE_S = 300
MAX_BODY_BYTES = 1_048_576


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Agentcast-Signature value for a body signed at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str | None, body: bytes, signature: str | None,
                     now: float | None = None) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` and the timestamp is fresh."""
    if not signature or not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > TOLERANCE_S:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def word_count(text: str) -> dict:
    """The demo's one real tool."""
    return {"words": len(text.split()), "characters": len(text)}


def agentcast_events(text: str) -> Iterator[dict]:
    """A golden-path run as agentcast events (docs/protocol.md §3); the gateway adds run_id."""
    yield {"type": "agent_thinking", "data": {"reasoning": f'Counting the words of "{text[:60]}".'}}
    yield {"type": "tool_executing",
           "data": {"tool_name": "word_count", "tool_args": {"text": text}, "execution_id": "x_py_1"}}
    started = time.monotonic()
    result = word_count(text)
    yield {"type": "tool_completed",
           "data": {"tool_name": "word_count", "execution_id": "x_py_1", "success": True,
                    "results": result, "duration_ms": round((time.monotonic() - started) * 1000, 3)}}
    answer = f"Your message has {result['words']} words and {result['characters']} characters."
    for chunk in chunks(answer):
        yield {"type": "stream_chunk", "data": {"text": chunk}}
    yield {"type": "agent_completed", "data": {"status": "succeeded", "final_response": answer}}


def ag_ui_events(text: str, run_id: str, thread_id: str) -> Iterator[dict]:
    """The same run as AG-UI events; the gateway maps them onto agentcast events."""
    yield {"type": "RUN_STARTED", "threadId": thread_id, "runId": run_id}
    yield {"type": "REASONING_START", "messageId": "think-1"}
    yield {"type": "REASONING_MESSAGE_CONTENT", "messageId": "think-1",
           "delta": f'Counting the words of "{text[:60]}".'}
    yield {"type": "REASONING_END", "messageId": "think-1"}
    args = json.dumps({"text": text})
    yield {"type": "TOOL_CALL_START", "toolCallId": "call-1", "toolCallName": "word_count"}
    half = len(args) // 2
    yield {"type": "TOOL_CALL_ARGS", "toolCallId": "call-1", "delta": args[:half]}
    yield {"type": "TOOL_CALL_ARGS", "toolCallId": "call-1", "delta": args[half:]}
    yield {"type": "TOOL_CALL_END", "toolCallId": "call-1"}
    result = word_count(text)
    yield {"type": "TOOL_CALL_RESULT", "messageId": "tool-1", "toolCallId": "call-1",
           "content": json.dumps(result)}
    answer = f"Your message has {result['words']} words and {result['characters']} characters."
    yield {"type": "TEXT_MESSAGE_START", "messageId": "answer-1", "role": "assistant"}
    for chunk in chunks(answer):
        yield {"type": "TEXT_MESSAGE_CONTENT", "messageId": "answer-1", "delta": chunk}
    yield {"type": "TEXT_MESSAGE_END", "messageId": "answer-1"}
    yield {"type": "STATE_SNAPSHOT", "snapshot": {"answered": True}}
    yield {"type": "RUN_FINISHED", "threadId": thread_id, "runId": run_id}


def chunks(text: str, words: int = 3) -> list[str]:
    """Splits text into chunks of a few words that join back to it exactly."""
    parts = text.split(" ")
    out = []
    for i in range(0, len(parts), words):
        piece = " ".join(parts[i:i + words])
        out.append(piece if i + words >= len(parts) else piece + " ")
    return out


class WebhookHandler(BaseHTTPRequestHandler):
    """Answers the gateway's signed POST with the run's events as chunked NDJSON."""

    protocol_version = "HTTP/1.1"
    server: "WebhookServer"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.reply_json(413, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        if not verify_signature(self.server.secret, self.headers.get(TIMESTAMP_HEADER), body,
                                self.headers.get(SIGNATURE_HEADER)):
            self.reply_json(401, {"error": "bad or stale signature"})
            return
        request = json.loads(body)
        text = request["message"]["text"]
        if self.server.format == "ag-ui":
            events = ag_ui_events(text, request["run_id"], request["message"].get("thread_id") or "t-1")
        else:
            events = agentcast_events(text)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            self.write_chunk((json.dumps(event) + "\n").encode())
            time.sleep(self.server.pause)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def reply_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write("webhook: " + (format % args) + "\n")


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: str, fmt: str, pause: float) -> None:
        super().__init__(address, WebhookHandler)
        self.secret = secret
        self.format = fmt
        self.pause = pause


def serve(args: argparse.Namespace) -> None:
    secret = args.secret or os.environ.get("AGENTCAST_AGENT_SECRET")
    if not secret:
        sys.exit("serve: pass --secret or set AGENTCAST_AGENT_SECRET (the gateway's --agent-secret)")
    server = WebhookServer((args.host, args.port), secret, args.format, args.pause)
    host, port = server.server_address[:2]
    # Tests read this line to learn the port when started with --port 0.
    print(f"listening on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def publish(args: argparse.Namespace) -> None:
    run_id = args.run_id or "r_py_" + secrets.token_hex(8)
    text = args.text
    events = [{"type": "agent_started", "data": {"agent_name": "python", "task_description": text}}]
    events += list(agentcast_events(text))
    for event in events:
        body = json.dumps({"user_id": args.user, "type": event["type"], "run_id": run_id,
                           "data": event["data"]}).encode()
        request = urllib.request.Request(
            args.gateway.rstrip("/") + "/v1/publish", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + args.api_key})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                print(event["type"], response.status, response.read().decode(), flush=True)
        except urllib.error.HTTPError as error:
            sys.exit(f"publish {event['type']}: HTTP {error.code} {error.read().decode()}")
        time.sleep(args.pause)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run a webhook backend for the webhook agent")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    s.add_argument("--secret", help="shared secret (or AGENTCAST_AGENT_SECRET)")
    s.add_argument("--format", choices=["agentcast", "ag-ui"], default="agentcast")
    s.add_argument("--pause", type=float, default=0.3, help="seconds between events")
    s.set_defaults(func=serve)
    p = sub.add_parser("publish", help="publish a run with POST /v1/publish")
    p.add_argument("--gateway", default="http://127.0.0.1:8080")
    p.add_argument("--api-key", required=True)
    p.add_argument("--user", required=True, help="the user id (JWT sub) to publish for")
    p.add_argument("--run-id", help="default: a fresh r_py_… id")
    p.add_argument("--text", default="What is agentcast?")
    p.add_argument("--pause", type=float, default=0.3)
    p.set_defaults(func=publish)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
