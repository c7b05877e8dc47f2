"""HS256 JSON Web Tokens the gateway accepts from browsers (docs/protocol.md §2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Optional, Sequence, Union


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(
    secret: Union[str, bytes],
    user_id: str,
    *,
    ttl_s: int = 3600,
    issuer: Optional[str] = None,
    audience: Optional[Union[str, Sequence[str]]] = None,
    now: Optional[float] = None,
) -> str:
    """A token for ``user_id`` (its ``sub``), signed HS256 with ``secret`` (the gateway's
    ``--jwt-secret``), expiring ``ttl_s`` seconds from now; ``iss`` and ``aud`` when the gateway checks
    them (``--jwt-issuer``, ``--jwt-audience``). Hand it to your front end; never log it."""
    if not 1 <= len(user_id) <= 128:
        raise ValueError("user_id must be 1..128 characters (the gateway refuses other subs)")
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
    issued = int(time.time() if now is None else now)
    claims: Dict[str, Any] = {"sub": user_id, "iat": issued, "exp": issued + int(ttl_s)}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience if isinstance(audience, str) else list(audience)
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    signature = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"
