"""What the sync and async publishers share: request bodies, answers, and the retry policy."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from .errors import PublishError

#: Most events of one batch (docs/protocol.md §8).
MAX_BATCH = 500
#: Statuses worth retrying: the engine was unavailable, or the gateway asks to slow down.
RETRY_STATUSES = frozenset({429, 503})
#: First backoff and its ceiling, in seconds; full jitter.
BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 5.0
#: The longest Retry-After honoured, in seconds: a longer one is cut to this.
RETRY_AFTER_MAX_S = 30.0
#: The media type of a streamed publish (docs/protocol.md D, "Streamed publish").
NDJSON = "application/x-ndjson"
JSON = "application/json"
#: A run's stream is ended and a new one opened past this age (the gateway's request timeout is 30 s)...
STREAM_MAX_AGE_S = 20.0
#: ...or this many lines (the gateway's --publish-stream-max-lines is 10,000 by default).
STREAM_MAX_LINES = 5_000


class Endpoint:
    """Where the gateway answers: ``http://host:port`` (https too) and the publish path under it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host[:port], got {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.rstrip("/") + "/v1/publish"
        self.host_header = parts.netloc.rsplit("@", 1)[-1]


def event_body(user_id: str, type: str, data: Optional[Mapping[str, Any]], run_id: Optional[str]) -> Dict[str, Any]:
    """One event as the gateway takes it; never a null field (an absent ``run_id`` is no run)."""
    event: Dict[str, Any] = {"user_id": user_id, "type": type, "data": dict(data) if data is not None else {}}
    if run_id is not None:
        event["run_id"] = run_id
    return event


def batch_body(events: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """``{"events": […]}`` of 1..500 events, each stripped of null fields."""
    if not 1 <= len(events) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1..{MAX_BATCH} events, got {len(events)}")
    out = []
    for i, event in enumerate(events):
        if "user_id" not in event or "type" not in event:
            raise ValueError(f"events[{i}] needs user_id and type")
        out.append(event_body(event["user_id"], event["type"], event.get("data"), event.get("run_id")))
    return {"events": out}


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_key() -> str:
    """A fresh idempotency key: every publish carries one, so a retry never stores twice."""
    return str(uuid.uuid4())


def headers(api_key: str, idempotency_key: str, length: Optional[int], host: str,
            content_type: str = JSON) -> Dict[str, str]:
    """The headers of a publish; without a length, of a chunked (streamed) body."""
    out = {
        "Host": host,
        "Authorization": f"Bearer {api_key}",
        "Content-Type": content_type,
        "Idempotency-Key": idempotency_key,
        "Connection": "keep-alive",
    }
    if length is None:
        out["Transfer-Encoding"] = "chunked"
    else:
        out["Content-Length"] = str(length)
    return out


def line(event: Mapping[str, Any]) -> bytes:
    """One line of a streamed publish."""
    return encode(event) + b"\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


#: The end of a chunked body.
LAST_CHUNK = b"0\r\n\r\n"


def streams_supported(status: int, text: bytes) -> bool:
    """Whether the answer to an empty streamed publish says the gateway takes streams: ``202`` with
    ``accepted``. A gateway from before streams reads the empty body as JSON and answers ``400``."""
    try:
        body = json.loads(text.decode("utf-8")) if text else None
    except ValueError:
        body = None
    if status == 202:
        # A gateway (or a stand-in) that read the empty body as something else: one publish per event.
        return isinstance(body, dict) and "accepted" in body
    if status in (400, 415):
        return False
    results_of(status, text)  # raises PublishError for what it is (401, 503, …)
    raise PublishError(status, "HTTP_ERROR", f"unexpected answer: {text[:200]!r}")


def results_of(status: int, text: bytes) -> List[Dict[str, Any]]:
    """The ``results`` of a 202, or raises PublishError for any other answer."""
    try:
        body = json.loads(text.decode("utf-8")) if text else None
    except ValueError:
        body = None
    if status == 202 and isinstance(body, dict) and isinstance(body.get("results"), list):
        return [{"seq": r["seq"], "epoch": r["epoch"]} for r in body["results"]]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raise PublishError(status, str(error.get("code", "HTTP_ERROR")), str(error.get("message", "")))
    raise PublishError(status, "HTTP_ERROR", f"unexpected answer: {text[:200]!r}")


def delay(attempt: int, retry_after: Optional[str]) -> float:
    """Seconds before retry ``attempt`` (0-based): the gateway's Retry-After, else exponential backoff."""
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), RETRY_AFTER_MAX_S)
        except ValueError:
            pass  # an HTTP date or garbage: fall back to the backoff
    return random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2 ** attempt)))


def should_retry(status: Optional[int]) -> bool:
    """No answer (a connection error or timeout), 503 or 429: retried with the same key."""
    return status is None or status in RETRY_STATUSES


def unreachable(error: BaseException) -> PublishError:
    return PublishError(None, "UNREACHABLE", f"the gateway could not be reached: {type(error).__name__}: {error}")


Answer = Tuple[int, Optional[str], bytes]
"""A raw answer: status, Retry-After header, body."""
