"""Publisher against a real gateway (docs/protocol.md §8 and D)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import pytest
from support import API_KEY, DroppingProxy, Gateway

from agentcast import PublishError, Publisher


def test_publish_stores_an_event_and_answers_its_seq_and_epoch(gateway: Gateway) -> None:
    with Publisher(gateway.url, API_KEY) as publisher:
        first = publisher.publish("u1", "notification", {"text": "hello"})
        second = publisher.publish("u1", "agent_thinking", {"reasoning": "hm"}, run_id="r_1")
    assert first["seq"] == 1 and second["seq"] == 2 and first["epoch"] == second["epoch"]
    history = gateway.history("u1")
    assert [(e["seq"], e["type"], e.get("run_id")) for e in history] == [
        (1, "notification", None), (2, "agent_thinking", "r_1")]
    assert "run_id" not in history[0]  # never sent as null: the gateway would refuse it


def test_publish_batch_stores_in_order_across_users(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    results = publisher.publish_batch([
        {"user_id": "a", "type": "notification", "data": {"n": 1}},
        {"user_id": "b", "type": "notification", "data": {"n": 2}, "run_id": None},
        {"user_id": "a", "type": "stream_chunk", "data": {"text": "x"}, "run_id": "r_9"},
    ])
    assert [r["seq"] for r in results] == [1, 1, 2]
    assert [e["data"] for e in gateway.history("a")] == [{"n": 1}, {"text": "x"}]


def test_a_refused_batch_raises_publish_error_and_stores_nothing(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    with pytest.raises(PublishError) as raised:
        publisher.publish_batch([
            {"user_id": "c", "type": "notification", "data": {}},
            {"user_id": "c", "type": "welcome", "data": {}},
        ])
    assert (raised.value.status, raised.value.code) == (400, "INVALID_MESSAGE")
    assert "events.1.type" in raised.value.message
    assert gateway.history("c") == []
    with pytest.raises(ValueError):
        publisher.publish_batch([])


def test_a_wrong_api_key_raises_401_without_retrying(gateway: Gateway) -> None:
    with pytest.raises(PublishError) as raised:
        Publisher(gateway.url, "not-the-key").publish("u", "notification", {})
    assert (raised.value.status, raised.value.code) == (401, "UNAUTHORIZED")


def test_a_retry_after_a_lost_answer_stores_the_event_once(gateway: Gateway, dropping_proxy: DroppingProxy) -> None:
    result = Publisher(dropping_proxy.url, API_KEY).publish("r", "notification", {"once": True})
    assert dropping_proxy.dropped == 1 and dropping_proxy.connections == 2
    assert result["seq"] == 1
    assert [e["data"] for e in gateway.history("r")] == [{"once": True}]


def test_a_batch_retried_after_a_lost_answer_is_stored_once(gateway: Gateway, dropping_proxy: DroppingProxy) -> None:
    events = [{"user_id": "rb", "type": "notification", "data": {"n": n}} for n in range(3)]
    results = Publisher(dropping_proxy.url, API_KEY).publish_batch(events)
    assert [r["seq"] for r in results] == [1, 2, 3]
    assert len(gateway.history("rb")) == 3


def test_an_idempotency_key_given_twice_stores_once_and_another_body_is_refused(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    first = publisher.publish("k", "notification", {"n": 1}, idempotency_key="order-42")
    assert publisher.publish("k", "notification", {"n": 1}, idempotency_key="order-42") == first
    with pytest.raises(PublishError) as raised:
        publisher.publish("k", "notification", {"n": 2}, idempotency_key="order-42")
    assert (raised.value.status, raised.value.code) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert len(gateway.history("k")) == 1


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (then 429) with Retry-After: 0 before a 202; records each request's headers."""

    protocol_version = "HTTP/1.1"
    seen: List[Dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)})
        status, payload = {1: (503, {"error": {"code": "UNAVAILABLE", "message": "m"}}),
                           2: (429, {"error": {"code": "RATE_LIMITED", "message": "m"}})}.get(
            len(self.seen), (202, {"results": [{"seq": 7, "epoch": "e_x"}]}))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass  # quiet


def test_503_and_429_are_retried_with_the_same_idempotency_key_honouring_retry_after() -> None:
    _Flaky.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = Publisher(f"http://127.0.0.1:{server.server_address[1]}", API_KEY).publish("u", "notification")
    finally:
        server.shutdown()
        server.server_close()
    assert result == {"seq": 7, "epoch": "e_x"}
    keys = [s["key"] for s in _Flaky.seen]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0]
    assert _Flaky.seen[0]["body"] == {"user_id": "u", "type": "notification", "data": {}}


def test_an_unreachable_gateway_raises_after_the_retries() -> None:
    import socket
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(PublishError) as raised:
        Publisher(f"http://127.0.0.1:{port}", API_KEY, retries=1).publish("u", "notification")
    assert (raised.value.status, raised.value.code) == (None, "UNREACHABLE")


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(ValueError):
        Publisher("ftp://x", API_KEY)
    with pytest.raises(ValueError):
        Publisher("http://127.0.0.1:1", "")
