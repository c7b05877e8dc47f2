"""Publishing from synchronous code: ``Publisher``, over one HTTP/1.1 keep-alive connection."""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _wire
from .errors import PublishError
from .run import Run


class Publisher:
    """Publishes events to one gateway with its API key (docs/protocol.md §8).

    Every publish carries an ``Idempotency-Key`` (its own UUID unless one is given), so connection
    errors, timeouts, ``503`` and ``429`` are retried up to ``retries`` times, with backoff that honours
    ``Retry-After``, without ever storing an event twice. Other refusals raise :class:`PublishError`.
    Safe to share between threads (requests take turns on the one connection).
    """

    def __init__(self, url: str, api_key: str, *, timeout: float = 10, retries: int = 3) -> None:
        if not api_key:
            raise ValueError("api_key is required (the gateway's --api-key)")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self._endpoint = _wire.Endpoint(url)
        self._api_key = api_key
        self._timeout = timeout
        self._retries = retries
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None
        #: Whether the gateway takes streamed publishes; asked once, by the first run.
        self._streams: Optional[bool] = None

    def publish(
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
        return self._send(body, idempotency_key or _wire.new_key())[0]

    def publish_batch(
        self, events: Sequence[Mapping[str, Any]], *, idempotency_key: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Stores up to 500 events (dicts with ``user_id``, ``type``, ``data``, ``run_id``), all or
        nothing, in order; returns their ``{"seq", "epoch"}`` in the same order."""
        body = _wire.encode(_wire.batch_body(events))
        return self._send(body, idempotency_key or _wire.new_key())

    def run(self, user_id: str, *, run_id: Optional[str] = None, agent_name: str = "python",
            task_description: str = "") -> Run:
        """A :class:`Run` of ``user_id``: ``with publisher.run("u1") as run: …``. Its events go as one
        streamed publish (docs/protocol.md D), or one publish each on a gateway without streams."""
        return Run(self, user_id, run_id=run_id, agent_name=agent_name, task_description=task_description)

    def close(self) -> None:
        """Closes the connection. The publisher opens a new one if used again."""
        with self._lock:
            self._drop()

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _streams_supported(self) -> bool:
        """Whether the gateway takes streamed publishes (docs/protocol.md D): an empty stream is
        ``202 {"accepted": 0, …}`` on one that does, ``400`` on a gateway from before them."""
        if self._streams is None:
            status, text = self._send_raw(b"", _wire.new_key(), _wire.NDJSON)
            self._streams = _wire.streams_supported(status, text)
        return self._streams

    def _run_stream(self) -> Optional["RunStream"]:
        """Where a run's events go: one streamed publish at a time, or None for one publish per event."""
        return RunStream(self) if self._streams_supported() else None

    def _send(self, body: bytes, key: str, content_type: str = _wire.JSON) -> List[Dict[str, Any]]:
        return _wire.results_of(*self._send_raw(body, key, content_type))

    def _send_raw(self, body: bytes, key: str, content_type: str) -> Tuple[int, bytes]:
        """The answer to a publish, after retrying what is safe to retry with the same key."""
        failure: Optional[PublishError] = None
        for attempt in range(self._retries + 1):
            try:
                status, retry_after, text = self._exchange(body, key, content_type)
            except (OSError, http.client.HTTPException) as error:
                failure = _wire.unreachable(error)
                if attempt < self._retries:
                    time.sleep(_wire.delay(attempt, None))
                continue
            if _wire.should_retry(status) and attempt < self._retries:
                time.sleep(_wire.delay(attempt, retry_after))
                continue
            return status, text
        assert failure is not None  # the loop ends without an answer only after connection errors
        raise failure

    def _exchange(self, body: bytes, key: str, content_type: str) -> _wire.Answer:
        with self._lock:
            reused = self._conn is not None
            try:
                return self._once(body, key, content_type)
            except (OSError, http.client.HTTPException):
                self._drop()
                if not reused:
                    raise
            # The kept-alive socket had been closed by the gateway while idle: once more on a new one.
            try:
                return self._once(body, key, content_type)
            except (OSError, http.client.HTTPException):
                self._drop()
                raise

    def _once(self, body: bytes, key: str, content_type: str) -> _wire.Answer:
        conn = self._connection()
        endpoint = self._endpoint
        conn.request("POST", endpoint.path, body=body,
                     headers=_wire.headers(self._api_key, key, len(body), endpoint.host_header, content_type))
        response = conn.getresponse()
        text = response.read()
        if response.will_close:
            self._drop()
        return response.status, response.getheader("Retry-After"), text

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = self._new_connection()
        return self._conn

    def _new_connection(self) -> http.client.HTTPConnection:
        e = self._endpoint
        if e.tls:
            return http.client.HTTPSConnection(e.host, e.port, timeout=self._timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(e.host, e.port, timeout=self._timeout)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RunStream:
    """A run's events as streamed publishes (docs/protocol.md D, "Streamed publish"): one chunked
    ``application/x-ndjson`` request on a connection of its own, a line per event, each stored and
    delivered by the gateway as it arrives; a new request every ``STREAM_MAX_AGE_S`` seconds or
    ``STREAM_MAX_LINES`` lines.

    Each request carries an ``Idempotency-Key``, so its line ``n`` is keyed ``<key>/<n>``: when the
    connection fails, or the gateway answers ``503``, the request's lines are sent again whole with the
    same key, and the lines stored the first time are not stored again. A refusal (``400``, ``409``,
    ``413``) raises :class:`PublishError` at the next event or at the end; the lines before it are stored.
    """

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._conn: Optional[http.client.HTTPConnection] = None
        self._lines: List[bytes] = []
        self._key = ""
        self._opened = 0.0
        #: ``{"seq", "epoch"}`` of every event stored so far, in order.
        self.results: List[Dict[str, Any]] = []

    def send(self, event: Mapping[str, Any]) -> None:
        if self._lines and (time.monotonic() - self._opened > _wire.STREAM_MAX_AGE_S
                            or len(self._lines) >= _wire.STREAM_MAX_LINES):
            self.close()
        data = _wire.line(event)
        if not self._lines:
            self._key = _wire.new_key()
            self._opened = time.monotonic()
        self._lines.append(data)
        try:
            if self._conn is None:
                self._conn = self._open()
            self._conn.send(_wire.chunk(data))
            answered = bool(select.select([self._conn.sock], [], [], 0)[0])
        except (OSError, http.client.HTTPException):
            answered = True  # the gateway answered and closed, or the connection broke: settle now
        if answered:
            self.close()

    def close(self) -> None:
        """Ends the current request and settles its answer; raises PublishError for a refusal."""
        if not self._lines:
            return
        conn, self._conn = self._conn, None
        lines, self._lines = self._lines, []
        status: Optional[int] = None
        text = b""
        retry_after: Optional[str] = None
        if conn is not None:
            try:
                try:
                    conn.send(_wire.LAST_CHUNK)
                except OSError:
                    pass  # an early answer may still be there to read
                response = conn.getresponse()
                status, retry_after, text = response.status, response.getheader("Retry-After"), response.read()
            except (OSError, http.client.HTTPException):
                status = None
            finally:
                conn.close()
        if _wire.should_retry(status):
            # Nothing known, or 503: the whole request again with its key stores each line at most once.
            if status is not None:
                time.sleep(_wire.delay(0, retry_after))
            status, text = self._publisher._send_raw(b"".join(lines), self._key, _wire.NDJSON)
        self.results.extend(_wire.results_of(status, text))

    def abandon(self) -> None:
        """Drops the connection without settling (the caller's own failure is already propagating)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _open(self) -> http.client.HTTPConnection:
        p = self._publisher
        conn = p._new_connection()
        e = p._endpoint
        conn.putrequest("POST", e.path, skip_host=True, skip_accept_encoding=True)
        for name, value in _wire.headers(p._api_key, self._key, None, e.host_header, _wire.NDJSON).items():
            conn.putheader(name, value)
        conn.endheaders()
        return conn
