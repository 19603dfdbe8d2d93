"""What a provider adapter is, and the HTTP machinery every HTTP adapter shares.

``LinkStatsSource`` is the whole contract ``LinkStats`` relies on; ``SupportsPages`` and
``SupportsDiscovery`` are the optional capabilities it uses where a source has them.

``HTTPSource`` is the base of an adapter for an HTTP API. A provider module subclasses it and
describes: the request for a target's first page (``first_request``), how a response becomes
records plus the next page's request (``parse_page``), and, if its error bodies have a shape
of their own, how to read them (``parse_error``). Sending, retries, rate-limit waits,
pagination, origin and loop checks and error typing happen here and in the transport, written
once for every provider.
"""

from __future__ import annotations

import abc
import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Hashable, Mapping
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypedDict, TypeVar, runtime_checkable

import aiohttp
import attrs
from yarl import URL

from ._errors import ErrorDetails, LinkStatsError, PaginationError, ResponseFormatError
from ._http import (
    PageRequest,
    Response,
    environment_proxy,
    page_key,
    read_error_body,
    same_origin,
    validate_base_url,
)
from ._models import Campaign, LinkClick
from ._policy import RetryPolicy
from ._transport import Transport, TransportStats
from ._validation import integer_in_range, positive_number_or_none

__all__ = [
    "HTTPSource",
    "LinkStatsSource",
    "Page",
    "SourceOptions",
    "SupportsDiscovery",
    "SupportsPages",
]

TargetT = TypeVar("TargetT", bound=Hashable)
TargetT_contra = TypeVar("TargetT_contra", bound=Hashable, contravariant=True)
ItemT = TypeVar("ItemT")

# Bodies above this size are parsed in a worker thread so the event loop keeps serving
# other requests meanwhile; below it the hand-off costs more than it saves.
_THREAD_PARSE_BYTES = 1 << 20

# What decoding a body of the wrong shape raises, alone or in an ExceptionGroup. Anything else
# out of a parser (an AttributeError on a typo, say) is a fault and surfaces as itself.
_SHAPE_ERRORS = (ValueError, TypeError, KeyError)


class SourceOptions(TypedDict, total=False):
    """The options every ``HTTPSource`` takes, for a provider's constructor to pass on as
    ``**options: Unpack[SourceOptions]``."""

    timeout: float | None
    retry: RetryPolicy | None
    max_retries: int | None
    backoff: float | None
    max_rate_limit_wait: float | None
    session: aiohttp.ClientSession | None


class LinkStatsSource(Protocol[TargetT_contra]):
    """A provider adapter: an async context manager that streams one target's records.

    ``provider`` names the provider (it is the ``provider`` of every record); ``target_types``
    names the target classes it accepts, and ``LinkStats`` routes each target to the source
    whose ``target_types`` include the target's type. A failure of one target is raised as a
    ``LinkStatsError``; anything else is taken for a fault and stops the whole fetch.

    Optional capabilities, used where a source has them: ``pages(target)`` (see
    ``SupportsPages``), ``discover()`` (see ``SupportsDiscovery``), and
    ``takes_request_slots = True`` for a source that holds ``request_slot()`` around each of
    its requests, so that ``LinkStats`` need not hold a slot while it waits on the source.
    """

    @property
    def provider(self) -> str: ...

    @property
    def target_types(self) -> tuple[type[Any], ...]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...

    def clicks(self, target: TargetT_contra) -> AsyncIterator[LinkClick]: ...


@runtime_checkable
class SupportsPages(Protocol[TargetT_contra]):
    """A source that hands over a target's records a page at a time, as they arrive.

    ``LinkStats`` prefers this to ``clicks`` where a source has it: a list per response
    costs less than an ``await`` per record.
    """

    def pages(self, target: TargetT_contra) -> AsyncIterator[list[LinkClick]]: ...


@runtime_checkable
class SupportsDiscovery(Protocol):
    """A source that can list its account's campaigns, each with the target that fetches it."""

    def discover(self) -> AsyncIterator[Campaign[Any]]: ...


@attrs.frozen
class Page(Generic[ItemT]):
    """One response's items, and how to get the next page if there is one.

    ``next_page`` is a link (a string, absolute or relative to the request's URL, followed
    as-is), a ``PageRequest`` (offset or cursor paging: ``response.request.with_query(...)``)
    or ``None`` on the last page.
    """

    items: list[ItemT]
    next_page: PageRequest | str | None = None


class HTTPSource(abc.ABC, Generic[TargetT]):
    """Base of an adapter for an HTTP API: one transport, paginated fetches, typed errors.

    Subclasses set ``provider`` and ``target_types`` and implement ``first_request`` and
    ``parse_page``; ``parse_error`` reads error bodies tolerantly unless overridden.
    """

    provider: ClassVar[str]
    target_types: ClassVar[tuple[type[Any], ...]]

    #: Each request takes its own slot from the ``LinkStats`` running it (see ``request_slot``).
    takes_request_slots: ClassVar[bool] = True

    def __init__(
        self,
        *,
        base_url: str | URL,
        headers: Mapping[str, str],
        secrets: Collection[str],
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
        max_rate_limit_wait: float | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int | None = None,
    ) -> None:
        """``headers`` go with every request, only to ``base_url``'s origin; ``secrets`` (the
        API key) never appear in an error, even where a server echoes them; ``retry`` is the
        policy, whose ``max_retries``, ``backoff`` and ``max_rate_limit_wait`` the keywords of
        those names override; ``max_connections`` caps this source's requests in flight, for
        providers that limit connections."""
        positive_number_or_none("timeout", timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        shorthand: dict[str, Any] = {
            name: value
            for name, value in (
                ("max_retries", max_retries),
                ("backoff", backoff),
                ("max_rate_limit_wait", max_rate_limit_wait),
            )
            if value is not None
        }
        policy = attrs.evolve(retry or RetryPolicy(), **shorthand)
        if max_connections is not None:
            integer_in_range("max_connections", max_connections, 1, 10_000)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        self.base_url = validate_base_url(base_url)
        self._transport = Transport(
            provider=self.provider,
            headers=headers,
            secrets=secrets,
            read_error=self.parse_error,
            timeout=timeout,
            retry=policy,
            session=session,
            max_connections=max_connections,
            proxy=environment_proxy(self.base_url, os.environ),
        )

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._transport.retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self.base_url)!r})"

    @property
    def stats(self) -> TransportStats:
        """Requests, retries and rate-limit waits so far."""
        return self._transport.stats

    async def __aenter__(self) -> Self:
        await self._transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._transport.__aexit__(exc_type, exc, tb)

    @abc.abstractmethod
    def first_request(self, target: TargetT) -> PageRequest:
        """The request for the target's first page."""

    @abc.abstractmethod
    def parse_page(self, target: TargetT, response: Response) -> Page[LinkClick]:
        """Records and the next page's request from a successful response.

        Raise ``ValueError``, ``TypeError`` or ``KeyError``, or an ``ExceptionGroup`` of them
        (or let the decoder raise them), for a body that is not the documented shape: it
        becomes a ``ResponseFormatError``.
        """

    def parse_error(self, response: Response) -> ErrorDetails:
        """What an error response says; the default reads every common shape."""
        return read_error_body(response.body)

    async def clicks(self, target: TargetT) -> AsyncGenerator[LinkClick, None]:
        """Every record of one target, following pagination to the last page."""
        async for page in self.pages(target):
            for click in page:
                yield click

    def pages(self, target: TargetT) -> AsyncGenerator[list[LinkClick], None]:
        """The target's records a page at a time; what ``LinkStats`` consumes."""
        if not isinstance(target, self.target_types):
            names = ", ".join(cls.__name__ for cls in self.target_types)
            raise TypeError(f"{type(self).__name__} fetches {names}, not {type(target).__name__}")
        return self.paginate(
            self.first_request(target), partial(self.parse_page, target), subject=target
        )

    async def paginate(
        self,
        request: PageRequest,
        parse: Callable[[Response], Page[ItemT]],
        *,
        subject: Hashable,
    ) -> AsyncGenerator[list[ItemT], None]:
        """Every page from ``request`` on, each parsed by ``parse``; errors name ``subject``.

        Listings use it as fetching does: a listing's ``subject`` is a ``Listing``.
        """
        if not same_origin(request.url, self.base_url):
            raise ValueError(
                f"{type(self).__name__} built a request for {str(request.url)!r}, outside "
                f"{self.base_url.origin()}; not sent"
            )
        fetched: set[tuple[str, tuple[str, ...]]] = set()
        limit = self.retry.deadline
        deadline = None if limit is None else asyncio.get_running_loop().time() + limit
        try:
            while True:
                response = await self._transport.get(request, deadline=deadline)
                if len(response.body) > _THREAD_PARSE_BYTES:
                    page = await asyncio.to_thread(self._decode, response, parse)
                else:
                    page = self._decode(response, parse)
                if page.next_page is None:
                    yield page.items
                    return
                request = self._next_request(request, page.next_page, fetched)
                yield page.items
        except LinkStatsError as error:
            error.target = subject
            raise

    def _next_request(
        self,
        request: PageRequest,
        next_page: PageRequest | str,
        fetched: set[tuple[str, tuple[str, ...]]],
    ) -> PageRequest:
        """The next page's request, if it stays on our origin and has not been sent yet."""
        if isinstance(next_page, str):
            next_page = self._follow(request, next_page)
        if not same_origin(next_page.url, self.base_url):
            raise PaginationError(
                f"next page {str(next_page.url)!r} is outside {self.base_url.origin()}; "
                "not followed",
                provider=self.provider,
                url=request.url,
            )
        # Most targets are one page, so pages are remembered only once there is a second.
        if not fetched:
            fetched.add(page_key(request.url))
        key = page_key(next_page.url)
        if key in fetched:
            raise PaginationError(
                f"next page {next_page.url} repeats a page already fetched",
                provider=self.provider,
                url=request.url,
            )
        fetched.add(key)
        return next_page

    def _follow(self, request: PageRequest, link: str) -> PageRequest:
        """A link, absolute or relative to the page it came from, as the next request."""
        try:
            url = URL(link, encoded=True)
            if not url.absolute:
                url = request.url.join(url)
            # A link can parse and still hold a port no request could use.
            url.port  # noqa: B018
        except ValueError as exc:
            raise PaginationError(
                f"next link {link!r} is not a URL", provider=self.provider, url=request.url
            ) from exc
        return PageRequest(url)

    def _decode(self, response: Response, parse: Callable[[Response], Page[ItemT]]) -> Page[ItemT]:
        failure: Exception
        try:
            return parse(response)
        except ResponseFormatError:
            raise
        except _SHAPE_ERRORS as exc:
            failure = exc
        except ExceptionGroup as group:
            # A decoder reporting every wrong field at once (cattrs' detailed validation, say):
            # a group of shape errors is one; a group holding anything else is a fault.
            if group.split(_SHAPE_ERRORS)[1] is not None:
                raise
            failure = group
        reason = self._transport.redact(str(failure))
        error = ResponseFormatError(
            f"HTTP {response.status} body from GET {response.url} "
            f"is not the documented shape: {reason}",
            provider=self.provider,
            status=response.status,
            url=response.url,
        )
        # A group's repr holds its errors' messages, which its str leaves out.
        if reason == str(failure) and self._transport.redact(repr(failure)) == repr(failure):
            raise error from failure
        # The decoder's message (or a grouped error's) quoted a secret from the body, so it is
        # not kept as the cause (raised out here, outside the handler, nor as the context).
        raise error
