"""A published agent run: ``agent_started`` first and exactly one ``agent_completed`` last."""

from __future__ import annotations

import secrets
import time
from types import TracebackType
from typing import Any, Dict, Mapping, Optional, Type

from . import events
from ._sink import AsyncSink, Sink


def new_run_id() -> str:
    return "r_py_" + secrets.token_hex(8)


def _failure(exc_type: Optional[Type[BaseException]]) -> events.Event:
    """The terminal of a run left without ``complete()``: the error's type as code, never its text."""
    if exc_type is None:
        return events.failed("INCOMPLETE", "the run ended without complete()")
    return events.failed(exc_type.__name__, f"the agent raised {exc_type.__name__}")


class _RunState:
    """What both kinds of run track: the ids and whether the terminal was sent."""

    def __init__(self, user_id: str, run_id: Optional[str], agent_name: str, task_description: str) -> None:
        self.user_id = user_id
        self.run_id = run_id or new_run_id()
        self.agent_name = agent_name
        self.task_description = task_description
        self.started = False
        self.ended = False
        self._tools = 0

    def next_execution_id(self) -> str:
        self._tools += 1
        return f"x_{self._tools}"

    def check_open(self) -> None:
        if not self.started:
            raise RuntimeError("use the run as a context manager: with publisher.run(user_id) as run")
        if self.ended:
            raise RuntimeError(f"run {self.run_id} has ended: nothing may follow its agent_completed")


class Run(_RunState):
    """A run published event by event (``Publisher.run``)::

        with publisher.run("u1") as run:
            run.thinking("Looking it up")
            with run.tool("search", {"q": "agentcast"}) as t:
                t.result(search("agentcast"))
            run.chunk("Found it.")
            run.complete("Found it.")

    Entering publishes ``agent_started``. Whatever happens, one ``agent_completed`` is published last:
    ``complete()``'s; ``failed`` with the exception's type as code when the block raises (also
    ``KeyboardInterrupt``; the exception still propagates); ``failed`` / ``INCOMPLETE`` when the block
    ends without ``complete()``.
    """

    def __init__(self, publisher: Sink, user_id: str, *, run_id: Optional[str] = None,
                 agent_name: str = "python", task_description: str = "") -> None:
        super().__init__(user_id, run_id, agent_name, task_description)
        self._publisher = publisher

    def __enter__(self) -> "Run":
        self._emit(events.agent_started(self.agent_name, self.task_description))
        self.started = True
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self._emit(_failure(exc_type))
        except Exception:
            if exc_type is None:
                raise
            # The block's own exception is the one the caller must see; the gateway ends nothing here.

    def thinking(self, reasoning: str) -> Dict[str, Any]:
        return self._event(events.thinking(reasoning))

    def chunk(self, text: str) -> Dict[str, Any]:
        return self._event(events.chunk(text))

    def tool(self, name: str, args: Optional[Mapping[str, Any]] = None) -> "Tool":
        """A tool call: ``tool_executing`` on entering, ``tool_completed`` on leaving."""
        self.check_open()
        return Tool(self, name, args)

    def complete(self, final_response: Any = None) -> Dict[str, Any]:
        """Ends the run ``succeeded``; nothing of it may be published after this."""
        result = self._event(events.completed(final_response))
        self.ended = True
        return result

    def _event(self, event: events.Event) -> Dict[str, Any]:
        self.check_open()
        return self._emit(event)

    def _emit(self, event: events.Event) -> Dict[str, Any]:
        return self._publisher.publish(self.user_id, event["type"], event["data"], run_id=self.run_id)


class Tool:
    """One tool call of a :class:`Run`; ``result(value)`` gives its results."""

    def __init__(self, run: Run, name: str, args: Optional[Mapping[str, Any]]) -> None:
        self._run = run
        self.name = name
        self.args = dict(args or {})
        self.execution_id = run.next_execution_id()
        self._results: Any = None
        self._started = 0.0

    def result(self, value: Any) -> None:
        self._results = value

    def __enter__(self) -> "Tool":
        self._run._event(events.tool_executing(self.name, self.args, self.execution_id))
        self._started = time.monotonic()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        duration_ms = (time.monotonic() - self._started) * 1000
        if exc_type is None:
            self._run._event(events.tool_completed(self.name, self.execution_id, self._results, duration_ms))
            return
        error = {"code": "TOOL_ERROR", "message": f"the tool raised {exc_type.__name__}"}
        try:
            self._run._event(events.tool_completed(self.name, self.execution_id, None, duration_ms,
                                                   success=False, error=error))
        except Exception:
            pass  # the tool's exception propagates; the run's terminal still follows in Run.__exit__


class AsyncRun(_RunState):
    """:class:`Run` for asyncio (``AsyncPublisher.run``): ``async with``, and every method is awaited."""

    def __init__(self, publisher: AsyncSink, user_id: str, *, run_id: Optional[str] = None,
                 agent_name: str = "python", task_description: str = "") -> None:
        super().__init__(user_id, run_id, agent_name, task_description)
        self._publisher = publisher

    async def __aenter__(self) -> "AsyncRun":
        await self._emit(events.agent_started(self.agent_name, self.task_description))
        self.started = True
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            await self._emit(_failure(exc_type))
        except Exception:
            if exc_type is None:
                raise

    async def thinking(self, reasoning: str) -> Dict[str, Any]:
        return await self._event(events.thinking(reasoning))

    async def chunk(self, text: str) -> Dict[str, Any]:
        return await self._event(events.chunk(text))

    def tool(self, name: str, args: Optional[Mapping[str, Any]] = None) -> "AsyncTool":
        self.check_open()
        return AsyncTool(self, name, args)

    async def complete(self, final_response: Any = None) -> Dict[str, Any]:
        result = await self._event(events.completed(final_response))
        self.ended = True
        return result

    async def _event(self, event: events.Event) -> Dict[str, Any]:
        self.check_open()
        return await self._emit(event)

    async def _emit(self, event: events.Event) -> Dict[str, Any]:
        return await self._publisher.publish(self.user_id, event["type"], event["data"], run_id=self.run_id)


class AsyncTool:
    """One tool call of an :class:`AsyncRun` (``async with run.tool(name, args) as t``)."""

    def __init__(self, run: AsyncRun, name: str, args: Optional[Mapping[str, Any]]) -> None:
        self._run = run
        self.name = name
        self.args = dict(args or {})
        self.execution_id = run.next_execution_id()
        self._results: Any = None
        self._started = 0.0

    def result(self, value: Any) -> None:
        self._results = value

    async def __aenter__(self) -> "AsyncTool":
        await self._run._event(events.tool_executing(self.name, self.args, self.execution_id))
        self._started = time.monotonic()
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        duration_ms = (time.monotonic() - self._started) * 1000
        if exc_type is None:
            await self._run._event(events.tool_completed(self.name, self.execution_id, self._results, duration_ms))
            return
        error = {"code": "TOOL_ERROR", "message": f"the tool raised {exc_type.__name__}"}
        try:
            await self._run._event(events.tool_completed(self.name, self.execution_id, None, duration_ms,
                                                         success=False, error=error))
        except Exception:
            pass  # the tool's exception propagates; the run's terminal still follows in __aexit__
