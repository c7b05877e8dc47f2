"""Runs as streamed publishes (docs/protocol.md D, "Streamed publish"): each event is on the user's
screen before the run ends, exactly one agent_completed even when a line is refused, and one publish per
event on a gateway from before streams."""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest
from support import API_KEY, JWT_SECRET, DroppingProxy, Gateway, WebSocket, types

from agentcast import AsyncPublisher, Publisher, PublishError, mint_token


def _frame(ws: WebSocket, type_: str) -> Dict[str, Any]:
    for _ in range(100):
        frame = ws.recv()
        assert frame is not None, f"closed {ws.close_code} while waiting for {type_}"
        if frame["type"] == type_:
            return frame
    raise AssertionError(f"no {type_} in 100 frames")


def test_each_event_reaches_the_screen_before_the_run_ends(gateway: Gateway) -> None:
    ws = WebSocket(gateway.port, mint_token(JWT_SECRET, "s1"))
    _frame(ws, "welcome")
    with Publisher(gateway.url, API_KEY) as publisher:
        with publisher.run("s1") as run:
            assert _frame(ws, "agent_started")["run_id"] == run.run_id
            for token in ["Hel", "lo"]:
                assert run.chunk(token) is None  # the seq comes with the answer, once the run ends
                assert _frame(ws, "stream_chunk")["data"] == {"text": token}
            run.complete("Hello")
        assert _frame(ws, "agent_completed")["data"]["status"] == "succeeded"
    ws.close()
    assert [r["seq"] for r in run.results] == [1, 2, 3, 4]
    assert types(gateway.history("s1")) == ["agent_started", "stream_chunk", "stream_chunk", "agent_completed"]


def test_a_refused_line_raises_and_the_run_still_ends_once(gateway: Gateway) -> None:
    deep: Dict[str, Any] = {}
    node = deep
    for _ in range(70):
        node["d"] = {}
        node = node["d"]
    publisher = Publisher(gateway.url, API_KEY)
    with pytest.raises(PublishError) as raised:
        with publisher.run("s2") as run:
            run.thinking("about to send a bad tool call")
            with run.tool("deep", deep):
                pass
            run.chunk("never stored")
            run.complete("never stored")
    assert raised.value.status == 400
    assert "line 3" in raised.value.message and "deeper than 64" in raised.value.message
    events = gateway.history("s2")
    assert types(events) == ["agent_started", "agent_thinking", "agent_completed"]
    assert events[-1]["data"]["error"] == {"code": "PublishError", "message": "the agent raised PublishError"}


def test_async_run_streams_too(gateway: Gateway) -> None:
    async def main() -> List[Dict[str, Any]]:
        async with AsyncPublisher(gateway.url, API_KEY) as publisher:
            async with publisher.run("s3") as run:
                await run.thinking("hm")
                assert await run.chunk("a") is None
                await run.complete("a")
            async with publisher.run("s3") as failing:
                raise_in_run = failing.run_id
            return run.results + failing.results + [{"run": raise_in_run}]

    results = asyncio.run(main())
    assert [r.get("seq") for r in results[:-1]] == [1, 2, 3, 4, 5, 6]
    events = gateway.history("s3")
    assert types(events) == ["agent_started", "agent_thinking", "stream_chunk", "agent_completed",
                             "agent_started", "agent_completed"]
    assert events[-1]["data"]["error"]["code"] == "INCOMPLETE"


class _OldGateway(BaseHTTPRequestHandler):
    """A gateway from before streams: every body is read whole as JSON."""

    published: List[Dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            event = json.loads(self.rfile.read(length))
            status, body = 202, {"results": [{"seq": len(self.published) + 1, "epoch": "e_old"}]}
            self.published.append(event)
        except ValueError:
            status, body = 400, {"error": {"code": "INVALID_JSON", "message": "body is not valid JSON"}}
        text = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def old_gateway() -> Iterator[str]:
    _OldGateway.published = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OldGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_gateway_without_streams_gets_one_publish_per_event(old_gateway: str) -> None:
    with Publisher(old_gateway, API_KEY) as publisher:
        with publisher.run("s4") as run:
            assert run.chunk("a") == {"seq": 2, "epoch": "e_old"}
            run.complete("a")

    async def main() -> None:
        async with AsyncPublisher(old_gateway, API_KEY) as publisher:
            async with publisher.run("s4") as arun:
                assert await arun.chunk("b") == {"seq": 5, "epoch": "e_old"}

    asyncio.run(main())
    assert [e["type"] for e in _OldGateway.published] == ["agent_started", "stream_chunk", "agent_completed",
                                                          "agent_started", "stream_chunk", "agent_completed"]
    assert [r["seq"] for r in run.results] == [1, 2, 3]


def test_a_stream_whose_answer_is_lost_is_sent_again_and_stored_once(gateway: Gateway, dropping_proxy: DroppingProxy) -> None:
    publisher = Publisher(dropping_proxy.url, API_KEY)
    publisher._streams = True  # skip the probe, so the run's stream is the connection whose answer is lost
    with publisher.run("s5") as run:
        run.chunk("once")
        run.complete("once")
    assert dropping_proxy.dropped == 1
    assert [r["seq"] for r in run.results] == [1, 2, 3]
    assert types(gateway.history("s5")) == ["agent_started", "stream_chunk", "agent_completed"]


def test_async_refused_line_still_ends_the_run_once(gateway: Gateway) -> None:
    async def main() -> None:
        async with AsyncPublisher(gateway.url, API_KEY) as publisher:
            async with publisher.run("s6") as run:
                await run.thinking("fine")
                await run._event({"type": "ack", "data": {}})  # a reserved type: the gateway refuses the line
                await run.chunk("never stored")
                await run.complete("never stored")

    with pytest.raises(PublishError) as raised:
        asyncio.run(main())
    assert raised.value.status == 400 and "line 3" in raised.value.message
    events = gateway.history("s6")
    assert types(events) == ["agent_started", "agent_thinking", "agent_completed"]
    assert events[-1]["data"]["error"]["code"] == "PublishError"
