"""What a provider adapter is, and the HTTP machinery every built-in adapter shares.

A provider module subclasses ``HTTPSource`` and supplies two things: the URL of a target's
first page, and how to turn one response into records plus the next-page link. Fetching,
pagination, origin checks and error typing happen here, the same way for every provider.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable, Mapping
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import aiohttp
import attrs
import cattrs
from yarl import URL

from ._errors import LinkStatsError, PaginationError, ResponseFormatError
from ._http import page_key, same_origin, validate_base_url
from ._models import LinkClick, Provider
from ._parsing import gc_paused
from ._transport import Response, RetryPolicy, Transport, TransportStats
from ._validation import integer_in_range, positive_number_or_none

__all__ = ["HTTPSource", "LinkStatsSource", "Page"]

TargetT = TypeVar("TargetT", bound=Hashable)
TargetT_contra = TypeVar("TargetT_contra", bound=Hashable, contravariant=True)
ItemT = TypeVar("ItemT")

# Bodies above this size are parsed in a worker thread so the event loop keeps serving
# other requests meanwhile; below it the hand-off costs more than it saves.
_THREAD_PARSE_BYTES = 1 << 20
# Bodies above this size make enough objects for the garbage collector's passes to matter.
_GC_PAUSE_BYTES = 1 << 16

# What a body of the wrong shape makes the decoders raise.
_SHAPE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError)


class LinkStatsSource(Protocol[TargetT_contra]):
    """A provider adapter: an async context manager that streams one target's records.

    ``target_types`` names the target classes it accepts; ``LinkStats`` routes each target
    to the source whose ``target_types`` include the target's type.
    """

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


@attrs.frozen
class Page(Generic[ItemT]):
    """One response's items, and the provider's link to the next page if there is one."""

    items: list[ItemT]
    next_link: str | None = None


class HTTPSource(abc.ABC, Generic[TargetT]):
    """Base of the built-in adapters: one transport, paginated fetches, typed errors."""

    provider: ClassVar[Provider]
    target_types: ClassVar[tuple[type[Any], ...]]

    def __init__(
        self,
        *,
        base_url: str | URL,
        headers: Mapping[str, str],
        timeout: float | None,
        max_retries: int,
        backoff: float,
        max_rate_limit_wait: float,
        session: aiohttp.ClientSession | None,
    ) -> None:
        positive_number_or_none("timeout", timeout)
        integer_in_range("max_retries", max_retries, 0, 100)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        self.base_url = validate_base_url(base_url)
        self._transport = Transport(
            provider=self.provider,
            headers=headers,
            timeout=timeout,
            retry=RetryPolicy(
                max_retries=max_retries,
                backoff=backoff,
                max_rate_limit_wait=max_rate_limit_wait,
            ),
            session=session,
        )

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
    def first_url(self, target: TargetT) -> URL:
        """The URL of the target's first page."""

    @abc.abstractmethod
    def parse_page(self, target: TargetT, body: bytes) -> Page[LinkClick]:
        """Records and next-page link from a successful response body.

        Raise ``ValueError`` or ``TypeError`` (or let cattrs raise) for a body that is not
        the documented shape; the caller turns it into a ``ResponseFormatError``.
        """

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
        return self._paginate(self.first_url(target), partial(self.parse_page, target), target)

    async def _paginate(
        self, url: URL, parse: Callable[[bytes], Page[ItemT]], subject: Hashable
    ) -> AsyncGenerator[list[ItemT], None]:
        """Every page from ``url`` on, following next links; errors name ``subject``."""
        fetched: set[tuple[str, tuple[str, ...]]] = set()
        try:
            while True:
                response = await self._transport.get(url)
                if len(response.body) > _THREAD_PARSE_BYTES:
                    page = await asyncio.to_thread(self._decode, response, parse)
                else:
                    page = self._decode(response, parse)
                if page.next_link is None:
                    yield page.items
                    return
                url = self._next_url(url, page.next_link, fetched)
                yield page.items
        except LinkStatsError as error:
            error.target = subject
            raise

    def _next_url(self, url: URL, link: str, fetched: set[tuple[str, tuple[str, ...]]]) -> URL:
        """The next page's URL, if it stays on our origin and has not been fetched yet."""
        try:
            next_url = URL(link, encoded=True)
            if not next_url.absolute:
                next_url = url.join(next_url)
        except ValueError as exc:
            raise PaginationError(
                f"next link {link!r} is not a URL", provider=self.provider, url=url
            ) from exc
        if not same_origin(next_url, self.base_url):
            raise PaginationError(
                f"next link {str(next_url)!r} is outside {self.base_url.origin()}; not followed",
                provider=self.provider,
                url=url,
            )
        # Most targets are one page, so pages are remembered only once there is a second.
        if not fetched:
            fetched.add(page_key(url))
        key = page_key(next_url)
        if key in fetched:
            raise PaginationError(
                f"next link {next_url} repeats a page already fetched",
                provider=self.provider,
                url=url,
            )
        fetched.add(key)
        return next_url

    def _decode(self, response: Response, parse: Callable[[bytes], Page[ItemT]]) -> Page[ItemT]:
        try:
            if len(response.body) < _GC_PAUSE_BYTES:
                return parse(response.body)
            with gc_paused():
                return parse(response.body)
        except _SHAPE_ERRORS as exc:
            raise ResponseFormatError(
                f"HTTP {response.status} body from GET {response.url} "
                f"is not the documented shape: {exc}",
                provider=self.provider,
                status=response.status,
                url=response.url,
            ) from exc
