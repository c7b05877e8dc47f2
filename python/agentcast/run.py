"""A published agent run: ``agent_started`` first and exactly one ``agent_completed`` last."""

from __future__ import annotations

import secrets
import time
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Type

from . import _wire, events
from ._sink import AsyncSink, AsyncStreamSink, Sink, StreamSink
from .errors import PublishError


def new_run_id() -> str:
    return "r_py_" + secrets.token_hex(8)


def _terminal_lost(error: PublishError) -> bool:
    """Whether a streamed run's terminal is known not to be stored: the gateway refused a line
    (``400``, ``409``, ``413``), which stops the stream there. Not after a ``503`` or no answer."""
    return error.status is not None and not _wire.should_retry(error.status)


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

    The events go as one streamed publish (docs/protocol.md D, "Streamed publish"): each is on the
    user's screen as soon as it is written, without a request of its own. Their ``{"seq", "epoch"}``
    are known once the run ends (``results``); the methods return ``None`` then. A gateway from before
    streams gets one publish per event, and the methods return each event's ``{"seq", "epoch"}``.
    """

    def __init__(self, publisher: Sink, user_id: str, *, run_id: Optional[str] = None,
                 agent_name: str = "python", task_description: str = "") -> None:
        super().__init__(user_id, run_id, agent_name, task_description)
        self._publisher = publisher
        self._stream: Optional[StreamSink] = None
        self._results: List[Dict[str, Any]] = []

    @property
    def results(self) -> List[Dict[str, Any]]:
        """``{"seq", "epoch"}`` of the run's events stored so far, in order."""
        return self._stream.results if self._stream is not None else self._results

    def __enter__(self) -> "Run":
        self._stream = self._publisher._run_stream()
        self._emit(events.agent_started(self.agent_name, self.task_description))
        self.started = True
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            if not self.ended:
                self.ended = True
                self._emit(_failure(exc_type))
            self._settle()
        except Exception:
            if self._stream is not None:
                self._stream.abandon()
            if exc_type is None:
                raise
            # The block's own exception is the one the caller must see; the gateway ends nothing here.

    def _settle(self) -> None:
        """Ends the stream. A refused line stops it, so the terminal after it was not stored: the run
        then ends ``failed`` as if the refusal had been raised in the block, and the refusal propagates."""
        if self._stream is None:
            return
        try:
            self._stream.close()
        except PublishError as error:
            if not _terminal_lost(error):
                raise
            self._emit(_failure(PublishError))
            self._stream.close()
            raise

    def thinking(self, reasoning: str) -> Optional[Dict[str, Any]]:
        return self._event(events.thinking(reasoning))

    def chunk(self, text: str) -> Optional[Dict[str, Any]]:
        return self._event(events.chunk(text))

    def tool(self, name: str, args: Optional[Mapping[str, Any]] = None) -> "Tool":
        """A tool call: ``tool_executing`` on entering, ``tool_completed`` on leaving."""
        self.check_open()
        return Tool(self, name, args)

    def complete(self, final_response: Any = None) -> Optional[Dict[str, Any]]:
        """Ends the run ``succeeded``; nothing of it may be published after this."""
        result = self._event(events.completed(final_response))
        self.ended = True
        return result

    def _event(self, event: events.Event) -> Optional[Dict[str, Any]]:
        self.check_open()
        return self._emit(event)

    def _emit(self, event: events.Event) -> Optional[Dict[str, Any]]:
        if self._stream is not None:
            self._stream.send(_wire.event_body(self.user_id, event["type"], event["data"], self.run_id))
            return None
        result = self._publisher.publish(self.user_id, event["type"], event["data"], run_id=self.run_id)
        self._results.append(result)
        return result


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
        self._stream: Optional[AsyncStreamSink] = None
        self._results: List[Dict[str, Any]] = []

    @property
    def results(self) -> List[Dict[str, Any]]:
        """``{"seq", "epoch"}`` of the run's events stored so far, in order."""
        return self._stream.results if self._stream is not None else self._results

    async def __aenter__(self) -> "AsyncRun":
        self._stream = await self._publisher._run_stream()
        await self._emit(events.agent_started(self.agent_name, self.task_description))
        self.started = True
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        try:
            if not self.ended:
                self.ended = True
                await self._emit(_failure(exc_type))
            await self._settle()
        except Exception:
            if self._stream is not None:
                self._stream.abandon()
            if exc_type is None:
                raise

    async def _settle(self) -> None:
        """:meth:`Run._settle`, awaited."""
        if self._stream is None:
            return
        try:
            await self._stream.close()
        except PublishError as error:
            if not _terminal_lost(error):
                raise
            await self._emit(_failure(PublishError))
            await self._stream.close()
            raise

    async def thinking(self, reasoning: str) -> Optional[Dict[str, Any]]:
        return await self._event(events.thinking(reasoning))

    async def chunk(self, text: str) -> Optional[Dict[str, Any]]:
        return await self._event(events.chunk(text))

    def tool(self, name: str, args: Optional[Mapping[str, Any]] = None) -> "AsyncTool":
        self.check_open()
        return AsyncTool(self, name, args)

    async def complete(self, final_response: Any = None) -> Optional[Dict[str, Any]]:
        result = await self._event(events.completed(final_response))
        self.ended = True
        return result

    async def _event(self, event: events.Event) -> Optional[Dict[str, Any]]:
        self.check_open()
        return await self._emit(event)

    async def _emit(self, event: events.Event) -> Optional[Dict[str, Any]]:
        if self._stream is not None:
            await self._stream.send(_wire.event_body(self.user_id, event["type"], event["data"], self.run_id))
            return None
        result = await self._publisher.publish(self.user_id, event["type"], event["data"], run_id=self.run_id)
        self._results.append(result)
        return result


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
