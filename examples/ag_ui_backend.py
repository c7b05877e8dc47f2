#!/usr/bin/env python3
"""A standard AG-UI agent server behind agentcast, on the Python standard library alone.

The gateway's webhook agent with ``--agent-protocol ag-ui`` POSTs an AG-UI ``RunAgentInput`` here
(signed with HMAC-SHA256, docs/agents.md) and reads the answer as server-sent events, each frame
``data: <event JSON>`` and a blank line: exactly what the official ``ag-ui-protocol`` package's
``EventEncoder`` writes (``model_dump_json(by_alias=True, exclude_none=True)``: camelCase fields,
compact JSON). An agent built with that package, or any AG-UI framework, answers the same way::

    python3 examples/ag_ui_backend.py --port 8788 --secret dev-agent-secret
    npx agentcast serve --default-agent webhook --agent-protocol ag-ui \\
        --agent-url http://127.0.0.1:8788/ --agent-secret dev-agent-secret

The run: RUN_STARTED, a ``word_count`` tool call on the user's last message, the answer streamed as
TEXT_MESSAGE_* events, RUN_FINISHED. A request with a bad signature gets 401.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

MAX_BODY_BYTES = 1_048_576
TOLERANCE_S = 300


def verify(secret: str, body: bytes, signature: "str | None", timestamp: "str | None") -> bool:
    """X-Agentcast-Signature is sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">, timestamp within 300 s."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)


def encode(event: dict) -> bytes:
    """One SSE frame as ag_ui.encoder.EventEncoder writes it: ``data: <compact JSON>`` + a blank line."""
    fields = {k: v for k, v in event.items() if v is not None}
    return f"data: {json.dumps(fields, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def last_user_text(run_input: dict) -> str:
    """The text of the last user message (content is a string or a list of input parts)."""
    for message in reversed(run_input.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def run_events(run_input: dict, pause: float) -> Iterator[dict]:
    """The run as AG-UI events: a tool call, then the answer in a few chunks."""
    thread_id, run_id = run_input["threadId"], run_input["runId"]
    text = last_user_text(run_input)
    yield {"type": "RUN_STARTED", "threadId": thread_id, "runId": run_id}
    call_id = f"call_{uuid.uuid4().hex[:8]}"
    yield {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": "word_count"}
    yield {"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": json.dumps({"text": text})}
    yield {"type": "TOOL_CALL_END", "toolCallId": call_id}
    result = {"words": len(text.split()), "characters": len(text)}
    yield {"type": "TOOL_CALL_RESULT", "messageId": f"tool_{call_id}", "toolCallId": call_id,
           "content": json.dumps(result), "role": "tool"}
    answer = f"Your message has {result['words']} words and {result['characters']} characters."
    message_id = f"msg_{uuid.uuid4().hex[:8]}"
    yield {"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": "assistant"}
    words = answer.split(" ")
    for i in range(0, len(words), 3):
        time.sleep(pause)
        chunk = " ".join(words[i:i + 3]) + ("" if i + 3 >= len(words) else " ")
        yield {"type": "TEXT_MESSAGE_CONTENT", "messageId": message_id, "delta": chunk}
    yield {"type": "TEXT_MESSAGE_END", "messageId": message_id}
    yield {"type": "RUN_FINISHED", "threadId": thread_id, "runId": run_id}


class Handler(BaseHTTPRequestHandler):
    server: "Server"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.send_error(413)
            return
        body = self.rfile.read(length)
        signed = verify(self.server.secret, body, self.headers.get("X-Agentcast-Signature"),
                        self.headers.get("X-Agentcast-Timestamp"))
        if not signed:
            self.send_error(401)
            return
        run_input = json.loads(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            for event in run_events(run_input, self.server.pause):
                self.wfile.write(encode(event))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway cancelled the run: it closed the connection

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        print("ag-ui backend:", format % args, file=sys.stderr)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, secret: str, pause: float) -> None:
        super().__init__(address, Handler)
        self.secret = secret
        self.pause = pause


def main(argv: "list | None" = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788, help="0 picks a free port")
    parser.add_argument("--secret", default=os.environ.get("AGENTCAST_AGENT_SECRET"),
                        help="shared secret (or AGENTCAST_AGENT_SECRET)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between streamed chunks")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("--secret (or AGENTCAST_AGENT_SECRET) is required")
    server = Server((args.host, args.port), args.secret, args.pause)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
