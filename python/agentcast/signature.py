"""The webhook agent's request signature (docs/agents.md, "Signature")."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Optional, Union

#: Header carrying ``sha256=<hex HMAC-SHA256>`` of ``<timestamp>.<raw body>``.
SIGNATURE_HEADER = "X-Agentcast-Signature"
#: Header carrying the Unix time in whole seconds the request was signed at.
TIMESTAMP_HEADER = "X-Agentcast-Timestamp"
#: How far a timestamp may be from this machine's clock, in seconds, by default.
TOLERANCE_S = 300


def _bytes(value: Union[str, bytes]) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: Union[str, bytes], timestamp: Union[str, int], body: Union[str, bytes]) -> str:
    """The ``X-Agentcast-Signature`` value the gateway sends for ``body`` signed at ``timestamp``."""
    message = str(timestamp).encode("ascii") + b"." + _bytes(body)
    return "sha256=" + hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: Union[str, bytes],
    timestamp: Optional[str],
    signature: Optional[str],
    body: Union[str, bytes],
    *,
    tolerance_s: float = TOLERANCE_S,
    now: Optional[float] = None,
) -> bool:
    """True when ``signature`` signs the raw ``body`` at ``timestamp`` with ``secret`` (the gateway's
    ``--agent-secret``) and ``timestamp`` is within ``tolerance_s`` of ``now`` (default: this clock).

    Compares in constant time; a missing, malformed or stale timestamp is False, so a captured request
    cannot be replayed later. Pass the body exactly as received: re-encoded JSON does not verify.
    """
    if not signature or not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode("ascii"), signature.encode("utf-8"))
