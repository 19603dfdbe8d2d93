"""Async link-click statistics from Paubox Marketing and SendGrid, for many campaigns at once.

::

    async with LinkStats(PauboxSource(...), SendGridSource(...)) as stats:
        result = await stats.collect([PauboxSend(send_id), SendGridAutomation(automation_id)])
"""

from ._errors import (
    AuthenticationError,
    ErrorDetails,
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
from ._facade import CollectResult, LinkStats, TargetResult, Targets
from ._http import PageRequest, Response
from ._models import Campaign, LinkClick, Listing
from ._policy import Action, Decision, Failure, Outcome, RetryPolicy
from ._registry import (
    ENTRY_POINT_GROUP,
    ProviderInfo,
    TargetKind,
    TargetOption,
    registered_providers,
)
from ._source import (
    HTTPSource,
    LinkStatsSource,
    Page,
    SourceOptions,
    SupportsDiscovery,
    SupportsPages,
)
from ._transport import TransportStats, request_slot
from ._version import __version__ as __version__
from .providers import Provider
from .providers.paubox import PauboxSend, PauboxSource
from .providers.sendgrid import SendGridAutomation, SendGridSingleSend, SendGridSource

__all__ = [
    "ENTRY_POINT_GROUP",
    "Action",
    "AuthenticationError",
    "Campaign",
    "CollectResult",
    "Decision",
    "ErrorDetails",
    "Failure",
    "HTTPSource",
    "InvalidRequestError",
    "LinkClick",
    "LinkStats",
    "LinkStatsError",
    "LinkStatsSource",
    "Listing",
    "NotFoundError",
    "Outcome",
    "Page",
    "PageRequest",
    "PaginationError",
    "PauboxSend",
    "PauboxSource",
    "Provider",
    "ProviderInfo",
    "ProviderMessage",
    "RateLimitError",
    "Response",
    "ResponseFormatError",
    "RetryPolicy",
    "SendGridAutomation",
    "SendGridSingleSend",
    "SendGridSource",
    "ServerError",
    "SourceOptions",
    "SupportsDiscovery",
    "SupportsPages",
    "TargetKind",
    "TargetOption",
    "TargetResult",
    "Targets",
    "TransportError",
    "TransportStats",
    "UnexpectedStatusError",
    "registered_providers",
    "request_slot",
]
