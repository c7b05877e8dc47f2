#!/usr/bin/env python3
"""An agent backend for agentcast on the ``agentcast`` Python package (python/README.md).

Two ways to send a user's agent events through the gateway:

1. ``serve``: a webhook backend for the built-in ``webhook`` agent. The gateway POSTs each user
   message here (signed with HMAC-SHA256); this verifies it and answers with the run's events as
   NDJSON, one per line, streamed with small pauses so you can watch them arrive::

       python3 examples/python_backend.py serve --port 8787 --secret dev-agent-secret
       npx agentcast serve --default-agent webhook --agent-url http://127.0.0.1:8787/ \\
           --agent-secret dev-agent-secret

   ``--format ag-ui`` streams the same run as AG-UI events instead; the gateway maps them.

2. ``publish``: push a whole run yourself with ``POST /v1/publish`` (docs/protocol.md §8)::

       python3 examples/python_backend.py publish --gateway http://127.0.0.1:8080 \\
           --api-key dev-api-key-123456 --user u1 --text "What is 6 * 7?"

Install the package with ``pip install ./python``; run from a checkout, this file finds it there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

try:
    import agentcast
except ImportError:  # not installed: use the package of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
    import agentcast

from agentcast import events, webhook

MAX_BODY_BYTES = 1_048_576


def word_count(text: str) -> dict:
    """The demo's one real tool."""
    return {"words": len(text.split()), "characters": len(text)}


def answer_of(text: str) -> str:
    result = word_count(text)
    return f"Your message has {result['words']} words and {result['characters']} characters."


def chunks(text: str, words: int = 3) -> list:
    """Splits text into chunks of a few words that join back to it exactly."""
    parts = text.split(" ")
    return [" ".join(parts[i:i + words]) + ("" if i + words >= len(parts) else " ")
            for i in range(0, len(parts), words)]


def run_events(text: str, pause: float) -> Iterator[dict]:
    """A golden-path run as agentcast events (the gateway adds run_id and agent_started)."""
    yield events.thinking(f'Counting the words of "{text[:60]}".')
    yield events.tool_executing("word_count", {"text": text}, "x_py_1")
    started = time.monotonic()
    result = word_count(text)
    yield events.tool_completed("word_count", "x_py_1", result, (time.monotonic() - started) * 1000)
    for chunk in chunks(answer_of(text)):
        time.sleep(pause)
        yield events.chunk(chunk)
    yield events.completed(answer_of(text))


class WebhookHandler(BaseHTTPRequestHandler):
    """Answers the gateway's signed POST with the run's events as chunked NDJSON."""

    protocol_version = "HTTP/1.1"
    server: "WebhookServer"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            webhook.refuse(self, 413, "body too large")
            return
        try:
            request = webhook.parse_request(self.server.secret, self.headers, self.rfile.read(length))
        except webhook.SignatureError:
            webhook.refuse(self)
            return
        webhook.respond(self, run_events(request.text, self.server.pause), format=self.server.format,
                        request=request)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write("webhook: " + (format % args) + "\n")


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, secret: str, fmt: str, pause: float) -> None:
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
    text = args.text
    with agentcast.Publisher(args.gateway, args.api_key) as publisher:
        try:
            with publisher.run(args.user, run_id=args.run_id, task_description=text) as run:
                run.thinking(f'Counting the words of "{text[:60]}".')
                with run.tool("word_count", {"text": text}) as tool:
                    tool.result(word_count(text))
                for chunk in chunks(answer_of(text)):
                    time.sleep(args.pause)
                    run.chunk(chunk)
                run.complete(answer_of(text))
        except agentcast.PublishError as error:
            sys.exit(f"publish: {error}")
    print(f"published run {run.run_id} for {args.user}", flush=True)


def main(argv: "list | None" = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run a webhook backend for the webhook agent")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    s.add_argument("--secret", help="shared secret (or AGENTCAST_AGENT_SECRET)")
    s.add_argument("--format", choices=list(webhook.FORMATS), default="agentcast")
    s.add_argument("--pause", type=float, default=0.3, help="seconds between streamed chunks")
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
