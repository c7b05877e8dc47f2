"""What a run publishes through: what :class:`Run` and :class:`AsyncRun` need of a publisher (a publish,
and a streamed publish of the run's events where the gateway has it).

Kept apart from ``publisher.py`` and ``async_publisher.py`` so that ``run.py`` depends on this shape and
not on the publishers, which import ``run.py`` to make runs: no import cycle, not even a type-only one.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Protocol


class StreamSink(Protocol):
    """A run's streamed publish (:class:`agentcast.publisher.RunStream`): one line per event."""

    results: List[Dict[str, Any]]

    def send(self, event: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...

    def abandon(self) -> None: ...


class AsyncStreamSink(Protocol):
    """:class:`StreamSink` for asyncio (:class:`agentcast.async_publisher.AsyncRunStream`)."""

    results: List[Dict[str, Any]]

    async def send(self, event: Mapping[str, Any]) -> None: ...

    async def close(self) -> None: ...

    def abandon(self) -> None: ...


class Sink(Protocol):
    """A publisher that stores one event synchronously (:class:`agentcast.Publisher`)."""

    def _run_stream(self) -> Optional[StreamSink]: ...

    def publish(self, user_id: str, type: str, data: Optional[Mapping[str, Any]] = None, *,
                run_id: Optional[str] = None, idempotency_key: Optional[str] = None) -> Dict[str, Any]: ...


class AsyncSink(Protocol):
    """A publisher that stores one event for asyncio (:class:`agentcast.AsyncPublisher`)."""

    async def _run_stream(self) -> Optional[AsyncStreamSink]: ...

    async def publish(self, user_id: str, type: str, data: Optional[Mapping[str, Any]] = None, *,
                      run_id: Optional[str] = None, idempotency_key: Optional[str] = None) -> Dict[str, Any]: ...
