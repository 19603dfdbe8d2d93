"""Errors raised while fetching link statistics.

Every failure a provider or the network can cause is a ``LinkStatsError``::

    LinkStatsError
    ├── AuthenticationError      401, 403: the key is wrong or lacks the scope
    ├── NotFoundError            404: no such send or automation
    ├── InvalidRequestError      400, 422: the provider rejected the parameters
    ├── RateLimitError           429, still after every retry
    ├── ServerError              5xx, still after every retry
    ├── TransportError           no usable answer (connection, timeout, broken HTTP), still
    │                            after every retry
    ├── ResponseFormatError      a success whose body is not JSON or not the documented shape
    ├── UnexpectedStatusError    any other status (redirects are never followed)
    └── PaginationError          a next link that leaves the base URL's origin or repeats a page

Each carries what the provider said (``provider_messages``, read by that provider's own error
parser), a short excerpt of the body (``body_excerpt``), the HTTP ``status`` where there was
one, the request ``url`` and, once known, the ``target`` being fetched (a ``Listing`` for a
failed listing). None of them ever holds a credential: keys travel only in request headers,
which errors do not keep, and are cut out of the excerpt should a server echo them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import attrs
from yarl import URL

__all__ = [
    "AuthenticationError",
    "ErrorDetails",
    "InvalidRequestError",
    "LinkStatsError",
    "NotFoundError",
    "PaginationError",
    "ProviderMessage",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "TransportError",
    "UnexpectedStatusError",
]


@attrs.frozen
class ProviderMessage:
    """One message from a provider's error body, with the request field it blames if any."""

    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@attrs.frozen
class ErrorDetails:
    """What an error body says: the provider's messages, its error id and its error code."""

    messages: tuple[ProviderMessage, ...] = ()
    error_id: str | None = None
    code: str | None = None


class LinkStatsError(Exception):
    """Base of every error linkstats raises about a provider, a response or the network."""

    def __init__(
        self,
        summary: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        url: URL | None = None,
        provider_messages: Sequence[ProviderMessage] = (),
        error_id: str | None = None,
        code: str | None = None,
        target: Hashable | None = None,
        body_excerpt: str | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.provider = provider
        self.status = status
        self.url = url
        self.provider_messages = tuple(provider_messages)
        self.error_id = error_id
        self.code = code
        self.target = target
        self.body_excerpt = body_excerpt

    @property
    def messages(self) -> tuple[str, ...]:
        """The provider's own messages, verbatim."""
        return tuple(item.message for item in self.provider_messages)

    def __str__(self) -> str:
        parts = [f"{self.provider}: {self.summary}" if self.provider else self.summary]
        if self.provider_messages:
            parts.append("; ".join(str(item) for item in self.provider_messages))
        if self.code:
            parts.append(f"code {self.code}")
        if self.error_id:
            parts.append(f"error id {self.error_id}")
        return " - ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.summary, self.__dict__))


def _rebuild(cls: type[LinkStatsError], summary: str, state: dict[str, Any]) -> LinkStatsError:
    error = cls.__new__(cls)
    LinkStatsError.__init__(error, summary)
    error.__dict__.update(state)
    return error


class AuthenticationError(LinkStatsError):
    """The provider refused the credentials (401) or their scope (403)."""


class NotFoundError(LinkStatsError):
    """The provider has no such resource (404)."""


class InvalidRequestError(LinkStatsError):
    """The provider rejected the request's parameters (400, 422)."""


class RateLimitError(LinkStatsError):
    """The provider kept answering 429 after every retry."""

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(summary, **kwargs)
        self.retry_after = retry_after


class ServerError(LinkStatsError):
    """The provider kept failing with a 5xx after every retry."""


class TransportError(LinkStatsError):
    """The connection failed or timed out, still after every retry.

    ``failure`` says how: ``"connection"``, ``"timeout"``, ``"malformed"`` (an answer that
    broke HTTP), ``"tls"``, ``"closed"`` (the session given was closed) or ``"request"``.
    """

    def __init__(self, summary: str, *, failure: str | None = None, **kwargs: Any) -> None:
        super().__init__(summary, **kwargs)
        self.failure = failure


class ResponseFormatError(LinkStatsError):
    """A successful response whose body is not JSON or not the documented shape."""


class UnexpectedStatusError(LinkStatsError):
    """A status the providers do not document for these endpoints, such as a redirect."""


class PaginationError(LinkStatsError):
    """A next-page link that would leave the configured origin, or that repeats a page."""
