"""What a run publishes through: the one method :class:`Run` and :class:`AsyncRun` need of a publisher.

Kept apart from ``publisher.py`` and ``async_publisher.py`` so that ``run.py`` depends on this shape and
not on the publishers, which import ``run.py`` to make runs: no import cycle, not even a type-only one.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Protocol


class Sink(Protocol):
    """A publisher that stores one event synchronously (:class:`agentcast.Publisher`)."""

    def publish(self, user_id: str, type: str, data: Optional[Mapping[str, Any]] = None, *,
                run_id: Optional[str] = None, idempotency_key: Optional[str] = None) -> Dict[str, Any]: ...


class AsyncSink(Protocol):
    """A publisher that stores one event for asyncio (:class:`agentcast.AsyncPublisher`)."""

    async def publish(self, user_id: str, type: str, data: Optional[Mapping[str, Any]] = None, *,
                      run_id: Optional[str] = None, idempotency_key: Optional[str] = None) -> Dict[str, Any]: ...
