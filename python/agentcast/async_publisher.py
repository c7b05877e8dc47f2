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
        #: Whether the gateway takes streamed publishes; asked once, by the first run.
        self._streams: Optional[bool] = None

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

    async def _streams_supported(self) -> bool:
        """:meth:`Publisher._streams_supported`, awaited."""
        if self._streams is None:
            status, text = await self._send_raw(b"", _wire.new_key(), _wire.NDJSON)
            self._streams = _wire.streams_supported(status, text)
        return self._streams

    async def _run_stream(self) -> Optional["AsyncRunStream"]:
        return AsyncRunStream(self) if await self._streams_supported() else None

    async def _send(self, body: bytes, key: str, content_type: str = _wire.JSON) -> List[Dict[str, Any]]:
        return _wire.results_of(*(await self._send_raw(body, key, content_type)))

    async def _send_raw(self, body: bytes, key: str, content_type: str) -> Tuple[int, bytes]:
        if self._closed:
            raise RuntimeError("AsyncPublisher used after aclose()")
        failure: Optional[PublishError] = None
        for attempt in range(self._retries + 1):
            try:
                status, retry_after, text = await asyncio.wait_for(self._exchange(body, key, content_type),
                                                                   self._timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
                failure = _wire.unreachable(error)
                if attempt < self._retries:
                    await asyncio.sleep(_wire.delay(attempt, None))
                continue
            if _wire.should_retry(status) and attempt < self._retries:
                await asyncio.sleep(_wire.delay(attempt, retry_after))
                continue
            return status, text
        assert failure is not None  # the loop ends without an answer only after connection errors
        raise failure

    async def _exchange(self, body: bytes, key: str, content_type: str) -> _wire.Answer:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        async with self._slots:
            if self._idle:
                stream = self._idle.pop()
                try:
                    return await self._once(stream, body, key, content_type)
                except (OSError, asyncio.IncompleteReadError):
                    pass  # the gateway closed the idle socket: once more on a new one (same key: safe)
            return await self._once(await self._open(), body, key, content_type)

    async def _open(self) -> _Stream:
        e = self._endpoint
        context = ssl.create_default_context() if e.tls else None
        return await asyncio.open_connection(e.host, e.port, ssl=context)

    def _request_head(self, key: str, length: Optional[int], content_type: str) -> bytes:
        e = self._endpoint
        head = "".join(f"{name}: {value}\r\n" for name, value in
                       _wire.headers(self._api_key, key, length, e.host_header, content_type).items())
        return f"POST {e.path} HTTP/1.1\r\n{head}\r\n".encode("latin-1")

    async def _once(self, stream: _Stream, body: bytes, key: str, content_type: str) -> _wire.Answer:
        reader, writer = stream
        keep = False
        try:
            writer.write(self._request_head(key, len(body), content_type) + body)
            await writer.drain()
            status, headers = await _read_head(reader)
            text = await _read_body(reader, headers)
            keep = headers.get("connection", "").lower() != "close" and "content-length" in headers
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


async def _read_body(reader: asyncio.StreamReader, headers: Dict[str, str]) -> bytes:
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunked(reader)
    return await reader.read()  # delimited by the close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)


class AsyncRunStream:
    """:class:`agentcast.publisher.RunStream` for asyncio: a run's events as streamed publishes, one
    chunked request at a time on a connection of its own, retried whole with the same key."""

    def __init__(self, publisher: AsyncPublisher) -> None:
        self._publisher = publisher
        self._stream: Optional[_Stream] = None
        #: The gateway's answer, read as soon as it comes (early when it refuses a line).
        self._head: Optional["asyncio.Future[Tuple[int, Dict[str, str]]]"] = None
        self._lines: List[bytes] = []
        self._key = ""
        self._opened = 0.0
        self.results: List[Dict[str, Any]] = []

    async def send(self, event: Mapping[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        if self._lines and (loop.time() - self._opened > _wire.STREAM_MAX_AGE_S
                            or len(self._lines) >= _wire.STREAM_MAX_LINES):
            await self.close()
        data = _wire.line(event)
        if not self._lines:
            self._key = _wire.new_key()
            self._opened = loop.time()
        self._lines.append(data)
        try:
            if self._stream is None:
                reader, writer = await asyncio.wait_for(self._publisher._open(), self._publisher._timeout)
                self._stream = (reader, writer)
                writer.write(self._publisher._request_head(self._key, None, _wire.NDJSON))
                self._head = asyncio.ensure_future(_read_head(reader))
            self._stream[1].write(_wire.chunk(data))
            await asyncio.wait_for(self._stream[1].drain(), self._publisher._timeout)
            answered = self._head is not None and self._head.done()
        except (OSError, asyncio.TimeoutError):
            answered = True  # the connection broke: settle now
        if answered:
            await self.close()

    async def close(self) -> None:
        """Ends the current request and settles its answer; raises PublishError for a refusal."""
        if not self._lines:
            return
        stream, self._stream = self._stream, None
        head, self._head = self._head, None
        lines, self._lines = self._lines, []
        status: Optional[int] = None
        text = b""
        retry_after: Optional[str] = None
        if stream is not None and head is not None:
            reader, writer = stream
            try:
                if not head.done():
                    writer.write(_wire.LAST_CHUNK)
                    await asyncio.wait_for(writer.drain(), self._publisher._timeout)
                status, headers = await asyncio.wait_for(head, self._publisher._timeout)
                text = await asyncio.wait_for(_read_body(reader, headers), self._publisher._timeout)
                retry_after = headers.get("retry-after")
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                status = None
            finally:
                if not head.done():
                    head.cancel()
                writer.close()
        if _wire.should_retry(status):
            if status is not None:
                await asyncio.sleep(_wire.delay(0, retry_after))
            status, text = await self._publisher._send_raw(b"".join(lines), self._key, _wire.NDJSON)
        self.results.extend(_wire.results_of(status, text))

    def abandon(self) -> None:
        if self._head is not None and not self._head.done():
            self._head.cancel()
        if self._stream is not None:
            self._stream[1].close()
        self._stream = None
        self._head = None
