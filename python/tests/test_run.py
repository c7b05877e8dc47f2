"""Run: agent_started first, exactly one agent_completed last, whatever the block does (§3, E)."""

from typing import Any, Dict, List

import pytest
from support import API_KEY, Gateway, types

from agentcast import Publisher


def _run_events(gateway: Gateway, user: str) -> List[Dict[str, Any]]:
    events = gateway.history(user)
    assert len({e["run_id"] for e in events}) == 1, "every event carries the run's id"
    return events


def test_golden_path(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    with publisher.run("g1", task_description="count words") as run:
        run.thinking("Counting")
        with run.tool("word_count", {"text": "a b"}) as t:
            t.result({"words": 2})
        run.chunk("Two ")
        run.chunk("words.")
        run.complete("Two words.")
    events = _run_events(gateway, "g1")
    assert types(events) == ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                             "stream_chunk", "stream_chunk", "agent_completed"]
    assert events[0]["data"] == {"agent_name": "python", "task_description": "count words"}
    assert events[0]["run_id"] == run.run_id
    executing, completed = events[2]["data"], events[3]["data"]
    assert executing == {"tool_name": "word_count", "tool_args": {"text": "a b"}, "execution_id": "x_1"}
    assert completed["success"] is True and completed["results"] == {"words": 2}
    assert completed["execution_id"] == "x_1" and completed["duration_ms"] >= 0
    assert events[-1]["data"] == {"status": "succeeded", "final_response": "Two words."}


def test_an_exception_ends_the_run_failed_with_its_type_and_propagates(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    with pytest.raises(ValueError):
        with publisher.run("g2", run_id="r_fixed") as run:
            run.thinking("about to fail")
            raise ValueError("secret internals: db at 10.0.0.5")
    events = _run_events(gateway, "g2")
    assert types(events) == ["agent_started", "agent_thinking", "agent_completed"]
    assert events[-1]["run_id"] == "r_fixed"
    assert events[-1]["data"] == {"status": "failed", "final_response": None,
                                  "error": {"code": "ValueError", "message": "the agent raised ValueError"}}


def test_a_failing_tool_completes_unsuccessfully_then_the_run_fails(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    with pytest.raises(ZeroDivisionError):
        with publisher.run("g3") as run:
            with run.tool("divide", {"by": 0}):
                1 / 0  # noqa: B018
    events = _run_events(gateway, "g3")
    assert types(events) == ["agent_started", "tool_executing", "tool_completed", "agent_completed"]
    assert events[2]["data"]["success"] is False and events[2]["data"]["results"] is None
    assert events[2]["data"]["error"]["code"] == "TOOL_ERROR"
    assert events[-1]["data"]["error"]["code"] == "ZeroDivisionError"


def test_keyboard_interrupt_still_ends_the_run(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    with pytest.raises(KeyboardInterrupt):
        with publisher.run("g4"):
            raise KeyboardInterrupt
    events = _run_events(gateway, "g4")
    assert types(events) == ["agent_started", "agent_completed"]
    assert events[-1]["data"]["error"]["code"] == "KeyboardInterrupt"


def test_leaving_without_complete_ends_the_run_incomplete(gateway: Gateway) -> None:
    with Publisher(gateway.url, API_KEY).run("g5") as run:
        run.chunk("half an answer")
    events = _run_events(gateway, "g5")
    assert types(events) == ["agent_started", "stream_chunk", "agent_completed"]
    assert events[-1]["data"]["status"] == "failed"
    assert events[-1]["data"]["error"] == {"code": "INCOMPLETE", "message": "the run ended without complete()"}


def test_nothing_follows_the_terminal(gateway: Gateway) -> None:
    publisher = Publisher(gateway.url, API_KEY)
    with pytest.raises(RuntimeError, match="has ended"):
        with publisher.run("g6") as run:
            run.complete()
            run.chunk("too late")
    events = _run_events(gateway, "g6")
    assert types(events) == ["agent_started", "agent_completed"]
    assert events[-1]["data"]["status"] == "succeeded"
    with pytest.raises(RuntimeError, match="context manager"):
        publisher.run("g7").thinking("not entered")
