"""The webhook helpers and the signature, driven by a real gateway's webhook agent; tokens it accepts."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from support import JWT_SECRET, Gateway, WebSocket, types

from agentcast import events, mint_token, sign, verify_signature, webhook

AGENT_SECRET = "python-test-agent-secret"


def _run(text: str) -> Iterator[Dict[str, Any]]:
    yield events.thinking(f"Reading {text!r}")
    yield events.tool_executing("word_count", {"text": text}, "x1")
    yield events.tool_completed("word_count", "x1", {"words": len(text.split())}, 0.5)
    yield events.chunk("Counted ")
    yield events.chunk("them.")
    yield events.completed("Counted them.")


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    format = "agentcast"
    requests: List[webhook.WebhookRequest] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            request = webhook.parse_request(AGENT_SECRET, self.headers, body)
        except webhook.SignatureError:
            webhook.refuse(self)
            return
        self.requests.append(request)
        webhook.respond(self, _run(request.text), format=self.format, request=request)

    def log_message(self, *args: object) -> None:
        pass  # quiet


def _backend_and_gateway(fmt: str, secret: str = AGENT_SECRET) -> Tuple[ThreadingHTTPServer, Gateway]:
    handler = type("Backend", (_Backend,), {"format": fmt, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway = Gateway("--default-agent", "webhook", "--agent-url", f"http://127.0.0.1:{server.server_address[1]}/",
                      "--agent-secret", secret)
    return server, gateway


@pytest.mark.parametrize("fmt", ["agentcast", "ag-ui"])
def test_a_run_through_the_gateway_webhook_agent(fmt: str) -> None:
    server, gateway = _backend_and_gateway(fmt)
    try:
        ws = WebSocket(gateway.port, mint_token(JWT_SECRET, "w1"))
        welcome = ws.recv()
        assert welcome is not None and welcome["data"]["user_id"] == "w1"
        run = ws.run("count these four words")
        ws.close()
    finally:
        gateway.close()
        server.shutdown()
        server.server_close()
    assert types(run) == ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                          "stream_chunk", "stream_chunk", "agent_completed"]
    assert run[2]["data"] == {"tool_name": "word_count", "tool_args": {"text": "count these four words"},
                              "execution_id": "x1"}
    # AG-UI carries a tool result as text (TOOL_CALL_RESULT content): the gateway passes it on as is.
    assert run[3]["data"]["results"] == ({"words": 4} if fmt == "agentcast" else '{"words": 4}')
    assert run[-1]["data"]["status"] == "succeeded"
    assert run[-1]["data"]["final_response"] == "Counted them."
    [request] = server.RequestHandlerClass.requests  # type: ignore[attr-defined]
    assert (request.user_id, request.text, request.run_id) == ("w1", "count these four words", run[0]["run_id"])


def test_a_gateway_with_another_secret_is_refused_401() -> None:
    server, gateway = _backend_and_gateway("agentcast", secret="not-the-agent-secret")
    try:
        ws = WebSocket(gateway.port, mint_token(JWT_SECRET, "w2"))
        ws.recv()
        run = ws.run("hello")
        ws.close()
    finally:
        gateway.close()
        server.shutdown()
        server.server_close()
    assert types(run) == ["agent_started", "agent_completed"]
    assert run[-1]["data"]["error"] == {"code": "WEBHOOK_HTTP_401", "message": "backend answered HTTP 401"}


def test_verify_signature_accepts_the_gateways_scheme_and_refuses_the_rest() -> None:
    now = 1_800_000_000
    body = b'{"run_id":"r_1"}'
    good = sign("s", str(now), body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert verify_signature("s", str(now), good, body, now=now)
    assert verify_signature("s", str(now), good, body.decode(), now=now + 300)
    refused = [
        ("other", str(now), good, body, now),
        ("s", str(now), good, body + b" ", now),
        ("s", str(now), good, body, now + 301),
        ("s", str(now), good, body, now - 301),
        ("s", str(now + 1), good, body, now),
        ("s", None, good, body, now),
        ("s", str(now), None, body, now),
        ("s", "-1", good, body, now),
        ("s", "1e9", good, body, now),
        ("s", str(now), good.upper(), body, now),
    ]
    for secret, ts, sig, b, at in refused:
        assert not verify_signature(secret, ts, sig, b, now=at), (secret, ts, sig, b, at)
    assert verify_signature("s", str(now), good, body, now=now + 1000, tolerance_s=1000)


def test_to_ag_ui_refuses_types_without_an_ag_ui_form() -> None:
    with pytest.raises(ValueError, match="no AG-UI form"):
        list(webhook.to_ag_ui([{"type": "notification", "data": {}}], run_id="r"))
    with pytest.raises(ValueError, match="needs the request"):
        list(webhook.lines([], format="ag-ui"))


def test_mint_token_is_accepted_with_issuer_and_audience_and_refused_when_wrong() -> None:
    gateway = Gateway("--jwt-issuer", "https://auth.example", "--jwt-audience", "agentcast")
    try:
        ok = WebSocket(gateway.port, mint_token(JWT_SECRET, "t1", issuer="https://auth.example",
                                                audience="agentcast"))
        welcome = ok.recv()
        assert welcome is not None and welcome["type"] == "welcome" and welcome["data"]["user_id"] == "t1"
        ok.close()
        for token in (mint_token(JWT_SECRET, "t1"),  # no iss/aud
                      mint_token("another-secret-long-enough-0123456789", "t1", issuer="https://auth.example",
                                 audience="agentcast")):
            refused = WebSocket(gateway.port, token)
            assert refused.recv() is None and refused.close_code == 4001
            refused.close()
        expired = WebSocket(gateway.port, mint_token(JWT_SECRET, "t1", ttl_s=60, issuer="https://auth.example",
                                                     audience="agentcast", now=time.time() - 3600))
        assert expired.recv() is None and expired.close_code == 4002
        expired.close()
    finally:
        gateway.close()
    claims = json.loads(_b64(mint_token("k", "u", ttl_s=10, now=1000).split(".")[1]))
    assert claims == {"sub": "u", "iat": 1000, "exp": 1010}


def _b64(part: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
