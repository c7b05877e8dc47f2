"""Publishing from asyncio code: ``AsyncPublisher``, HTTP/1.1 keep-alive over asyncio streams."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _wire
from .errors import PublishError
from .run import AsyncRun

_Stream = Tuple[asyncio.StreamReader, asyncio.StreamWriter]

#: Longest status line or header line read from the gateway.
_MAX_LINE = 16 * 1024


class AsyncPublisher:
    """:class:`agentcast.Publisher` for asyncio, standard library only: the same methods, awaited.

    Concurrent publishes use up to ``max_connections`` kept-alive connections at once (one request per
    connection at a time); ``aclose()`` closes them.
    """

    def __init__(self, url: str, api_key: str, *, timeout: float = 10, retries: int = 3,
                 max_connections: int = 8) -> None:
        if not api_key:
            raise ValueError("api_key is required (the gateway's --api-key)")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self._endpoint = _wire.Endpoint(url)
        self._api_key = api_key
        self._timeout = timeout
        self._retries = retries
        self._idle: List[_Stream] = []
        self._max_connections = max_connections
        # Made on first use: on Python 3.9 a Semaphore binds to the loop current when it is made.
        self._slots: Optional[asyncio.Semaphore] = None
        self._closed = False

    async def publish(
        self,
        user_id: str,
        type: str,
        data: Optional[Mapping[str, Any]] = None,
        *,
        run_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Stores one event for ``user_id``; returns its ``{"seq", "epoch"}``."""
        body = _wire.encode(_wire.event_body(user_id, type, data, run_id))
        return (await self._send(body, idempotency_key or _wire.new_key()))[0]

    async def publish_batch(
        self, events: Sequence[Mapping[str, Any]], *, idempotency_key: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Stores up to 500 events, all or nothing, in order; returns their ``{"seq", "epoch"}``."""
        body = _wire.encode(_wire.batch_body(events))
        return await self._send(body, idempotency_key or _wire.new_key())

    def run(self, user_id: str, *, run_id: Optional[str] = None, agent_name: str = "python",
            task_description: str = "") -> AsyncRun:
        """An :class:`AsyncRun` of ``user_id``: ``async with publisher.run("u1") as run: …``."""
        return AsyncRun(self, user_id, run_id=run_id, agent_name=agent_name, task_description=task_description)

    async def aclose(self) -> None:
        """Closes every connection; the publisher must not be used afterwards."""
        self._closed = True
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass  # the peer had already closed it: nothing left to release

    async def __aenter__(self) -> "AsyncPublisher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, body: bytes, key: str) -> List[Dict[str, Any]]:
        if self._closed:
            raise RuntimeError("AsyncPublisher used after aclose()")
        failure: Optional[PublishError] = None
        for attempt in range(self._retries + 1):
            try:
                status, retry_after, text = await asyncio.wait_for(self._exchange(body, key), self._timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
                failure = _wire.unreachable(error)
                if attempt < self._retries:
                    await asyncio.sleep(_wire.delay(attempt, None))
                continue
            if _wire.should_retry(status) and attempt < self._retries:
                await asyncio.sleep(_wire.delay(attempt, retry_after))
                continue
            return _wire.results_of(status, text)
        assert failure is not None  # the loop ends without an answer only after connection errors
        raise failure

    async def _exchange(self, body: bytes, key: str) -> _wire.Answer:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        async with self._slots:
            if self._idle:
                stream = self._idle.pop()
                try:
                    return await self._once(stream, body, key)
                except (OSError, asyncio.IncompleteReadError):
                    pass  # the gateway closed the idle socket: once more on a new one (same key: safe)
            return await self._once(await self._open(), body, key)

    async def _open(self) -> _Stream:
        e = self._endpoint
        context = ssl.create_default_context() if e.tls else None
        return await asyncio.open_connection(e.host, e.port, ssl=context)

    async def _once(self, stream: _Stream, body: bytes, key: str) -> _wire.Answer:
        reader, writer = stream
        keep = False
        try:
            e = self._endpoint
            head = "".join(f"{name}: {value}\r\n" for name, value in
                           _wire.headers(self._api_key, key, len(body), e.host_header).items())
            writer.write(f"POST {e.path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body)
            await writer.drain()
            status, headers = await _read_head(reader)
            length = headers.get("content-length")
            if length is not None:
                text = await reader.readexactly(int(length))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                text = await _read_chunked(reader)
            else:
                text = await reader.read()  # delimited by the close
            keep = headers.get("connection", "").lower() != "close" and length is not None
            return status, headers.get("retry-after"), text
        finally:
            if keep and not self._closed:
                self._idle.append(stream)
            else:
                writer.close()


async def _read_head(reader: asyncio.StreamReader) -> Tuple[int, Dict[str, str]]:
    line = await reader.readuntil(b"\r\n")
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP/1.1 status line: {line[:80]!r}")
    headers: Dict[str, str] = {}
    for _ in range(200):
        raw = await reader.readuntil(b"\r\n")
        if raw == b"\r\n":
            return int(parts[1]), headers
        if len(raw) > _MAX_LINE:
            raise ValueError("header line too long")
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("too many header lines")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)
