"""The errors of the agentcast package."""

from __future__ import annotations

from typing import Optional


class PublishError(Exception):
    """A publish the gateway refused, or could not take after every retry.

    ``status`` is the HTTP status (``None`` when no answer came: the gateway could not be reached),
    ``code`` the gateway's error code (``INVALID_MESSAGE``, ``UNAUTHORIZED``, ``IDEMPOTENCY_KEY_REUSED``,
    ``UNAVAILABLE``…, docs/protocol.md "Catalogue"; ``UNREACHABLE`` when no answer came) and
    ``message`` its message, which names the failing field.
    """

    def __init__(self, status: Optional[int], code: str, message: str) -> None:
        super().__init__(f"{status if status is not None else 'no answer'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
