"""The golden-path events (docs/protocol.md §3) as ``{"type", "data"}`` dicts.

``Run`` publishes them; a webhook backend yields them (``agentcast.webhook``), where the gateway adds
the ``run_id`` and publishes ``agent_started`` itself.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

Event = Dict[str, Any]


def agent_started(agent_name: str, task_description: str = "") -> Event:
    return {"type": "agent_started", "data": {"agent_name": agent_name, "task_description": task_description}}


def thinking(reasoning: str) -> Event:
    return {"type": "agent_thinking", "data": {"reasoning": reasoning}}


def tool_executing(tool_name: str, tool_args: Optional[Mapping[str, Any]], execution_id: str) -> Event:
    return {"type": "tool_executing",
            "data": {"tool_name": tool_name, "tool_args": dict(tool_args or {}), "execution_id": execution_id}}


def tool_completed(tool_name: str, execution_id: str, results: Any, duration_ms: float, *,
                   success: bool = True, error: Optional[Mapping[str, str]] = None) -> Event:
    data: Dict[str, Any] = {"tool_name": tool_name, "execution_id": execution_id, "success": success,
                            "results": results, "duration_ms": max(0.0, round(duration_ms, 3))}
    if error is not None:
        data["error"] = dict(error)
    return {"type": "tool_completed", "data": data}


def chunk(text: str) -> Event:
    return {"type": "stream_chunk", "data": {"text": text}}


def completed(final_response: Any = None) -> Event:
    """``agent_completed`` ``succeeded``."""
    return {"type": "agent_completed", "data": {"status": "succeeded", "final_response": final_response}}


def failed(code: str, message: str, final_response: Any = None) -> Event:
    """``agent_completed`` ``failed`` with ``error: {code, message}`` (code 1..64 characters)."""
    return {"type": "agent_completed",
            "data": {"status": "failed", "final_response": final_response,
                     "error": {"code": code[:64] or "AGENT_ERROR", "message": message[:4096]}}}
