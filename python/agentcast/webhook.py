"""Answering the gateway's webhook agent (docs/agents.md, "Built-in webhook agent").

The gateway POSTs each user message, signed, and reads the answer as NDJSON, one event per line::

    request = webhook.parse_request(SECRET, headers, body)        # raises SignatureError: answer 401
    def run():
        yield events.thinking("Looking it up")
        yield events.chunk("Found it.")
        yield events.completed("Found it.")

    webhook.respond(handler, run())                                # http.server
    StreamingResponse(webhook.stream(run()), media_type=webhook.NDJSON)   # Starlette / FastAPI

Events are agentcast events (``agentcast.events``); ``format="ag-ui"`` sends the same run as AG-UI
events, which the gateway maps back. The gateway publishes ``agent_started`` itself and adds the
``run_id``; the answer must end with ``agent_completed`` (``events.completed`` or ``events.failed``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from collections.abc import AsyncIterable as AsyncIterableABC
from typing import Any, AsyncIterable, AsyncIterator, Dict, Iterable, Iterator, Mapping, Optional, Union

from .events import Event
from .signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_S, verify_signature

#: The media type of the answer.
NDJSON = "application/x-ndjson"
#: The two answer formats.
FORMATS = ("agentcast", "ag-ui")


class SignatureError(Exception):
    """The request's signature is missing, wrong or stale: answer 401 (the run ends WEBHOOK_HTTP_401)."""


@dataclass(frozen=True)
class WebhookRequest:
    """One user message the gateway sent: ``{"run_id","user_id","message":{"id","text","thread_id"}}``."""

    run_id: str
    user_id: str
    message_id: str
    text: str
    thread_id: Optional[str]


def _header(headers: Any, name: str) -> Optional[str]:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def parse_request(
    secret: Union[str, bytes],
    headers: Any,
    body: bytes,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: Optional[float] = None,
) -> WebhookRequest:
    """Verifies the signature of ``body`` (the raw bytes) and decodes it. ``headers`` is anything with
    ``get``: http.server's ``self.headers``, Starlette's ``request.headers``, a dict."""
    if not verify_signature(secret, _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER),
                            body, tolerance_s=tolerance_s, now=now):
        raise SignatureError("bad or stale signature")
    payload = json.loads(body)
    message = payload["message"]
    return WebhookRequest(run_id=payload["run_id"], user_id=payload["user_id"], message_id=message["id"],
                          text=message["text"], thread_id=message.get("thread_id"))


def to_ag_ui(events: Iterable[Event], *, run_id: str, thread_id: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    """The agentcast events of a run as AG-UI events that the gateway maps back onto them
    (docs/agents.md, "AG-UI mapping"). Tool results travel as JSON text (``TOOL_CALL_RESULT.content``),
    so clients see ``results`` as that text; a failed tool call reaches the gateway as a result (AG-UI
    has no failed tool result); event types outside the golden path are refused with ValueError."""
    converter = _AgUi(run_id, thread_id or run_id)
    yield converter.started()
    for event in events:
        yield from converter.convert(event)


class _AgUi:
    def __init__(self, run_id: str, thread_id: str) -> None:
        self.run_id = run_id
        self.thread_id = thread_id
        self.count = 0
        self.text_open: Optional[str] = None

    def started(self) -> Dict[str, Any]:
        return {"type": "RUN_STARTED", "threadId": self.thread_id, "runId": self.run_id}

    def _id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}-{self.count}"

    def convert(self, event: Event) -> Iterator[Dict[str, Any]]:
        kind, data = event["type"], event.get("data") or {}
        if kind == "agent_thinking":
            mid = self._id("reasoning")
            yield {"type": "REASONING_START", "messageId": mid}
            if data["reasoning"]:
                yield {"type": "REASONING_MESSAGE_CONTENT", "messageId": mid, "delta": data["reasoning"]}
            yield {"type": "REASONING_END", "messageId": mid}
        elif kind == "tool_executing":
            call = data["execution_id"]
            yield {"type": "TOOL_CALL_START", "toolCallId": call, "toolCallName": data["tool_name"]}
            yield {"type": "TOOL_CALL_ARGS", "toolCallId": call, "delta": json.dumps(data.get("tool_args") or {})}
            yield {"type": "TOOL_CALL_END", "toolCallId": call}
        elif kind == "tool_completed":
            yield {"type": "TOOL_CALL_RESULT", "messageId": self._id("tool"), "toolCallId": data["execution_id"],
                   "content": json.dumps(data.get("results"))}
        elif kind == "stream_chunk":
            if self.text_open is None:
                self.text_open = self._id("answer")
                yield {"type": "TEXT_MESSAGE_START", "messageId": self.text_open, "role": "assistant"}
            if data["text"]:
                yield {"type": "TEXT_MESSAGE_CONTENT", "messageId": self.text_open, "delta": data["text"]}
        elif kind == "agent_completed":
            if self.text_open is not None:
                yield {"type": "TEXT_MESSAGE_END", "messageId": self.text_open}
                self.text_open = None
            if data.get("status") == "succeeded":
                yield {"type": "RUN_FINISHED", "threadId": self.thread_id, "runId": self.run_id}
            else:
                error = data.get("error") or {}
                yield {"type": "RUN_ERROR", "message": error.get("message", "the agent failed"),
                       "code": error.get("code", "AGENT_ERROR")}
        else:
            raise ValueError(f"{kind!r} has no AG-UI form; send it with format='agentcast'")


def _check(format: str, request: Optional[WebhookRequest]) -> None:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "ag-ui" and request is None:
        raise ValueError("format='ag-ui' needs the request (its run_id and thread_id)")


def _line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def lines(events: Iterable[Event], *, format: str = "agentcast",
          request: Optional[WebhookRequest] = None) -> Iterator[bytes]:
    """The answer's NDJSON lines, one per event, in ``format``."""
    _check(format, request)
    if format == "ag-ui" and request is not None:
        yield from (_line(e) for e in to_ag_ui(events, run_id=request.run_id, thread_id=request.thread_id))
    else:
        yield from (_line(e) for e in events)


async def stream(events: Union[Iterable[Event], AsyncIterable[Event]], *, format: str = "agentcast",
                 request: Optional[WebhookRequest] = None) -> AsyncIterator[bytes]:
    """:func:`lines` for ASGI: an async iterator of NDJSON lines from sync or async events, for
    Starlette's and FastAPI's ``StreamingResponse(…, media_type=webhook.NDJSON)``."""
    _check(format, request)
    converter = _AgUi(request.run_id, request.thread_id or request.run_id) if format == "ag-ui" and request else None
    if converter is not None:
        yield _line(converter.started())
    if isinstance(events, AsyncIterableABC):
        async for event in events:
            for out in (converter.convert(event) if converter else (event,)):
                yield _line(out)
    else:
        for event in events:
            for out in (converter.convert(event) if converter else (event,)):
                yield _line(out)


def respond(handler: BaseHTTPRequestHandler, events: Iterable[Event], *, format: str = "agentcast",
            request: Optional[WebhookRequest] = None) -> None:
    """Answers an ``http.server`` request with the events as NDJSON, each line sent as it is produced:
    chunked under HTTP/1.1 (set ``protocol_version = "HTTP/1.1"`` on the handler), else until the close."""
    body = lines(events, format=format, request=request)
    chunked = handler.protocol_version == "HTTP/1.1"
    handler.send_response(200)
    handler.send_header("Content-Type", NDJSON)
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.close_connection = True
    handler.end_headers()
    for line in body:
        handler.wfile.write(f"{len(line):x}\r\n".encode("ascii") + line + b"\r\n" if chunked else line)
        handler.wfile.flush()
    if chunked:
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def refuse(handler: BaseHTTPRequestHandler, status: int = 401, message: str = "bad or stale signature") -> None:
    """Answers an ``http.server`` request with a JSON error (401 for a :class:`SignatureError`)."""
    data = json.dumps({"error": message}).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
