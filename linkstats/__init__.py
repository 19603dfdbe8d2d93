"""Async link-click statistics from Paubox Marketing and SendGrid, for many campaigns at once.

::

    async with LinkStats(PauboxSource(...), SendGridSource(...)) as stats:
        result = await stats.collect([PauboxSend(send_id), SendGridAutomation(automation_id)])
"""

from ._errors import (
    AuthenticationError,
    InvalidRequestError,
    LinkStatsError,
    NotFoundError,
    PaginationError,
    ProviderMessage,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
    UnexpectedStatusError,
)
from ._facade import CollectResult, LinkStats, TargetResult
from ._models import Campaign, LinkClick, Provider
from ._source import HTTPSource, LinkStatsSource, Page
from ._transport import TransportStats
from .providers.paubox import PauboxSend, PauboxSource
from .providers.sendgrid import SendGridAutomation, SendGridSingleSend, SendGridSource

__all__ = [
    "AuthenticationError",
    "Campaign",
    "CollectResult",
    "HTTPSource",
    "InvalidRequestError",
    "LinkClick",
    "LinkStats",
    "LinkStatsError",
    "LinkStatsSource",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PauboxSend",
    "PauboxSource",
    "Provider",
    "ProviderMessage",
    "RateLimitError",
    "ResponseFormatError",
    "SendGridAutomation",
    "SendGridSingleSend",
    "SendGridSource",
    "ServerError",
    "TargetResult",
    "TransportError",
    "TransportStats",
    "UnexpectedStatusError",
]
