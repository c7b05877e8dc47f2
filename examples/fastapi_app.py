"""A FastAPI backend on the ``agentcast`` package (python/README.md): it answers the gateway's webhook
agent, publishes runs of its own from a background task, and mints the tokens its front end connects
with. Run it with ``uvicorn examples.fastapi_app:app --port 8787`` and a gateway such as::

    AGENTCAST_URL=http://127.0.0.1:8080 AGENTCAST_API_KEY=dev-api-key-123456 \\
    AGENTCAST_AGENT_SECRET=dev-agent-secret AGENTCAST_JWT_SECRET=dev-jwt-secret \\
        uvicorn examples.fastapi_app:app --port 8787
    npx agentcast serve --api-key dev-api-key-123456 --jwt-secret dev-jwt-secret \\
        --default-agent webhook --agent-url http://127.0.0.1:8787/agentcast/webhook --agent-secret dev-agent-secret
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import AsyncIterator, Dict

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

try:
    import agentcast
except ImportError:  # not installed: use the package of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
    import agentcast

from agentcast import events, webhook


def setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"set {name}")
    return value


app = FastAPI()
_tasks: "set[asyncio.Task[None]]" = set()


async def answer(text: str) -> AsyncIterator[Dict]:
    """The run the webhook streams back, as agentcast events: any async code can sit between them."""
    yield events.thinking(f"Reading {len(text)} characters")
    yield events.tool_executing("word_count", {"text": text}, "x1")
    yield events.tool_completed("word_count", "x1", {"words": len(text.split())}, 0.1)
    reply = f"{len(text.split())} words."
    yield events.chunk(reply)
    yield events.completed(reply)


@app.post("/agentcast/webhook")
async def agentcast_webhook(request: Request) -> StreamingResponse:
    """The gateway's webhook agent POSTs each user message here, signed."""
    try:
        message = webhook.parse_request(setting("AGENTCAST_AGENT_SECRET"), request.headers, await request.body())
    except webhook.SignatureError:
        raise HTTPException(status_code=401, detail="bad or stale signature")
    fmt = request.query_params.get("format", "agentcast")
    return StreamingResponse(webhook.stream(answer(message.text), format=fmt, request=message),
                             media_type=webhook.NDJSON)


async def publish_report(user_id: str, topic: str) -> None:
    async with agentcast.AsyncPublisher(setting("AGENTCAST_URL"), setting("AGENTCAST_API_KEY")) as publisher:
        async with publisher.run(user_id, agent_name="reporter", task_description=topic) as run:
            await run.thinking(f"Writing a report on {topic}")
            async with run.tool("search", {"q": topic}) as tool:
                tool.result({"hits": 3})
            await run.chunk("Your report is ready.")
            await run.complete("Your report is ready.")


@app.post("/reports/{user_id}", status_code=202)
async def start_report(user_id: str, topic: str = "agentcast") -> Dict[str, str]:
    """Starts a run the backend publishes itself; the user's browsers see it live."""
    task = asyncio.create_task(publish_report(user_id, topic))
    _tasks.add(task)  # held until done, so it is not garbage-collected mid-run
    task.add_done_callback(_tasks.discard)
    return {"status": "started"}


@app.get("/agentcast-token")
async def token(user: str) -> JSONResponse:
    """A token for the front end. A real app takes the user from its own session, never a parameter."""
    return JSONResponse({"token": agentcast.mint_token(setting("AGENTCAST_JWT_SECRET"), user, ttl_s=600)})
