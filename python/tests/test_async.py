"""AsyncPublisher and AsyncRun against a real gateway."""

import asyncio

import pytest
from support import API_KEY, DroppingProxy, Gateway, types

from agentcast import AsyncPublisher, PublishError


def test_concurrent_publishes_get_gap_free_seqs(gateway: Gateway) -> None:
    async def main() -> list:
        async with AsyncPublisher(gateway.url, API_KEY, max_connections=4) as publisher:
            return await asyncio.gather(*(publisher.publish("a1", "notification", {"n": n}) for n in range(60)))

    results = asyncio.run(main())
    assert sorted(r["seq"] for r in results) == list(range(1, 61))
    assert len({r["epoch"] for r in results}) == 1
    assert sorted(e["data"]["n"] for e in gateway.history("a1")) == list(range(60))


def test_async_run_golden_path_and_batch(gateway: Gateway) -> None:
    async def main() -> None:
        publisher = AsyncPublisher(gateway.url, API_KEY)
        async with publisher.run("a2") as run:
            await run.thinking("hm")
            async with run.tool("lookup", {"q": "x"}) as t:
                t.result([1, 2])
            await run.chunk("done")
            await run.complete("done")
        batch = await publisher.publish_batch([{"user_id": "a3", "type": "notification", "data": {}}] * 3)
        assert [r["seq"] for r in batch] == [1, 2, 3]
        await publisher.aclose()

    asyncio.run(main())
    assert types(gateway.history("a2")) == ["agent_started", "agent_thinking", "tool_executing",
                                            "tool_completed", "stream_chunk", "agent_completed"]


def test_async_run_ends_failed_on_an_exception(gateway: Gateway) -> None:
    async def main() -> None:
        async with AsyncPublisher(gateway.url, API_KEY) as publisher:
            async with publisher.run("a4"):
                raise LookupError("nope")

    with pytest.raises(LookupError):
        asyncio.run(main())
    events = gateway.history("a4")
    assert types(events) == ["agent_started", "agent_completed"]
    assert events[-1]["data"]["error"]["code"] == "LookupError"


def test_async_retry_after_a_lost_answer_stores_once(gateway: Gateway, dropping_proxy: DroppingProxy) -> None:
    async def main() -> dict:
        async with AsyncPublisher(dropping_proxy.url, API_KEY) as publisher:
            return await publisher.publish("a5", "notification", {"once": True})

    assert asyncio.run(main())["seq"] == 1
    assert dropping_proxy.dropped == 1
    assert len(gateway.history("a5")) == 1


def test_async_refusal_raises_publish_error(gateway: Gateway) -> None:
    async def main() -> None:
        async with AsyncPublisher(gateway.url, API_KEY) as publisher:
            await publisher.publish("a6", "ack", {})

    with pytest.raises(PublishError) as raised:
        asyncio.run(main())
    assert (raised.value.status, raised.value.code) == (400, "INVALID_MESSAGE")
