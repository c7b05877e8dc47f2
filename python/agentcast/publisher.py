"""Publishing from synchronous code: ``Publisher``, over one HTTP/1.1 keep-alive connection."""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

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
        """A :class:`Run` of ``user_id``: ``with publisher.run("u1") as run: …``."""
        return Run(self, user_id, run_id=run_id, agent_name=agent_name, task_description=task_description)

    def close(self) -> None:
        """Closes the connection. The publisher opens a new one if used again."""
        with self._lock:
            self._drop()

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, body: bytes, key: str) -> List[Dict[str, Any]]:
        failure: Optional[PublishError] = None
        for attempt in range(self._retries + 1):
            try:
                status, retry_after, text = self._exchange(body, key)
            except (OSError, http.client.HTTPException) as error:
                failure = _wire.unreachable(error)
                if attempt < self._retries:
                    time.sleep(_wire.delay(attempt, None))
                continue
            if _wire.should_retry(status) and attempt < self._retries:
                time.sleep(_wire.delay(attempt, retry_after))
                continue
            return _wire.results_of(status, text)
        assert failure is not None  # the loop ends without an answer only after connection errors
        raise failure

    def _exchange(self, body: bytes, key: str) -> _wire.Answer:
        with self._lock:
            reused = self._conn is not None
            try:
                return self._once(body, key)
            except (OSError, http.client.HTTPException):
                self._drop()
                if not reused:
                    raise
            # The kept-alive socket had been closed by the gateway while idle: once more on a new one.
            try:
                return self._once(body, key)
            except (OSError, http.client.HTTPException):
                self._drop()
                raise

    def _once(self, body: bytes, key: str) -> _wire.Answer:
        conn = self._connection()
        endpoint = self._endpoint
        conn.request("POST", endpoint.path, body=body,
                     headers=_wire.headers(self._api_key, key, len(body), endpoint.host_header))
        response = conn.getresponse()
        text = response.read()
        if response.will_close:
            self._drop()
        return response.status, response.getheader("Retry-After"), text

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            e = self._endpoint
            if e.tls:
                self._conn = http.client.HTTPSConnection(e.host, e.port, timeout=self._timeout,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(e.host, e.port, timeout=self._timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
