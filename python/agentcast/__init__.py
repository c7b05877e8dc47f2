"""agentcast for Python: publish agent events to an agentcast gateway, answer its webhook agent, and
mint the tokens browsers connect with. Standard library only (python/README.md)."""

from . import events, webhook
from .async_publisher import AsyncPublisher
from .errors import PublishError
from .publisher import Publisher
from .run import AsyncRun, AsyncTool, Run, Tool
from .signature import sign, verify_signature
from .token import mint_token

__all__ = [
    "AsyncPublisher",
    "AsyncRun",
    "AsyncTool",
    "PublishError",
    "Publisher",
    "Run",
    "Tool",
    "events",
    "mint_token",
    "sign",
    "verify_signature",
    "webhook",
]
__version__ = "0.1.0"
