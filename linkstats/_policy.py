"""When to retry, how long to wait, and what the provider's rate limit allows: pure decisions.

Nothing here performs I/O or reads a clock. ``RetryPolicy.decide`` turns one attempt's outcome
into "retry after X", "pause the source for X" or "give up"; ``RateLimitGate`` keeps what
responses said of the provider's rate-limit window and its clock. The transport feeds both the
times they need and carries out what they decide, so every rule is tested from values alone.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
from multidict import istr

from ._http import RETRYABLE_STATUSES, rate_limit_delay, rate_limit_window
from ._validation import integer_in_range, positive_number_or_none

__all__ = ["Action", "Decision", "Failure", "Outcome", "RateLimitGate", "RetryPolicy"]


class Failure(enum.StrEnum):
    """What went wrong where no response came, as far as retrying is concerned."""

    CONNECTION = "connection"
    """Refused, reset or dropped before a whole answer arrived."""
    TIMEOUT = "timeout"
    """No whole answer within the attempt's timeout."""
    MALFORMED = "malformed"
    """An answer that breaks HTTP: a bad status line, header, length or chunk."""
    TLS = "tls"
    """A certificate or handshake failure: another attempt meets the same."""
    CLOSED = "closed"
    """The session the source was given has been closed."""
    REQUEST = "request"
    """The request itself could not be sent as asked."""


_RETRYABLE_FAILURES = frozenset({Failure.CONNECTION, Failure.TIMEOUT, Failure.MALFORMED})


@attrs.frozen
class Outcome:
    """One failed attempt as the decision sees it: a response's status, or a failure.

    ``rate_limit_wait`` is how long a 429 asked to wait, read against the provider's clock.
    """

    status: int | None = None
    failure: Failure | None = None
    rate_limit_wait: float | None = None


class Action(enum.Enum):
    """What a retry decision says to do."""

    RETRY = "retry"
    """Back off for ``delay``, then send again."""
    PAUSE = "pause"
    """Hold every request of the source for ``delay`` (the provider asked), then send again."""
    GIVE_UP = "give_up"
    """Raise the attempt's error."""


@attrs.frozen
class Decision:
    """What to do after a failed attempt."""

    action: Action
    delay: float = 0.0


_GIVE_UP = Decision(Action.GIVE_UP)

# Read on every response: as istr, aiohttp's headers find them without folding their case
# each time (a plain mapping finds them as the strings they are).
_DATE = istr("Date")
_RESET = istr("X-RateLimit-Reset")
_REMAINING = istr("X-RateLimit-Remaining")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{attribute.name} must be a number of seconds >= 0, got {value!r}")


def _max_retries(_: object, __: object, value: Any) -> None:
    integer_in_range("max_retries", value, 0, 100)


def _deadline(_: object, __: object, value: Any) -> None:
    positive_number_or_none("deadline", value)


def _statuses(values: Iterable[Any]) -> frozenset[int]:
    statuses = frozenset(values)
    if not all(type(status) is int and 100 <= status <= 599 for status in statuses):
        raise ValueError(f"retry_statuses must be HTTP statuses, got {sorted(statuses)!r}")
    return statuses


def _failures(values: Iterable[Failure | str]) -> frozenset[Failure]:
    return frozenset(Failure(value) for value in values)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Which failures are retried, how often, and how long to wait in between.

    Backoff is capped exponential with full jitter: retry ``n`` (from 0) waits a uniform
    random time in ``[0, min(max_backoff, backoff * 2**n)]``. A 429 instead pauses the whole
    source for what the provider asked, at most ``max_rate_limit_wait``. ``deadline`` bounds
    one target's fetch, every page and wait included: a retry that would end past it is not
    made. Only ``retry_statuses`` and ``retry_failures`` are retried; anything else fails at
    once.
    """

    max_retries: int = attrs.field(default=3, validator=_max_retries)
    backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=30.0, validator=_non_negative)
    max_rate_limit_wait: float = attrs.field(default=60.0, validator=_non_negative)
    deadline: float | None = attrs.field(default=None, validator=_deadline)
    retry_statuses: frozenset[int] = attrs.field(default=RETRYABLE_STATUSES, converter=_statuses)
    retry_failures: frozenset[Failure] = attrs.field(
        default=_RETRYABLE_FAILURES, converter=_failures
    )

    def decide(
        self, outcome: Outcome, *, retries: int, remaining: float | None, jitter: float
    ) -> Decision:
        """What to do after a failed attempt.

        ``retries`` counts the retries already made for this request, ``remaining`` is the
        time left before the target's deadline (``None``: no deadline), and ``jitter`` is a
        uniform draw from ``[0, 1)``.
        """
        if outcome.failure is not None:
            retryable = outcome.failure in self.retry_failures
        else:
            retryable = outcome.status in self.retry_statuses
        if not retryable or retries >= self.max_retries:
            return _GIVE_UP
        asked = outcome.rate_limit_wait
        if outcome.status == 429 and asked is not None and asked > 0:
            decision = Decision(Action.PAUSE, min(asked, self.max_rate_limit_wait))
        else:
            ceiling = min(self.max_backoff, self.backoff * 2**retries)
            decision = Decision(Action.RETRY, jitter * ceiling)
        if remaining is not None and decision.delay >= remaining:
            return _GIVE_UP
        return decision


class RateLimitGate:
    """The provider's request budget, shared by every request of one source.

    Two things hold a request back: a pause after a 429, for as long as the provider asked,
    and the budget of the current rate-limit window, counted against the ``X-RateLimit-*``
    headers so that a spent window is waited out instead of earning a 429. Resets are epoch
    times on the provider's clock, which is estimated from each response's ``Date`` header:
    each one bounds the clocks' difference, and the bounds narrow as responses arrive. A reset
    in the past means the window is over; one further away than ``cap`` is believed no further
    than ``cap``; and each new window's headers replace what was believed of the last.

    Times are passed in: ``now`` is the event loop's clock, ``wall`` the local Unix time.
    """

    def __init__(self, cap: float) -> None:
        self._cap = cap
        self._resume_at = 0.0
        self._limit: int | None = None
        self._used = 0
        self._window_end: float | None = None
        self._window_header: str | None = None
        # The provider's clock minus ours lies in [low, high].
        self._offset_low = -math.inf
        self._offset_high = math.inf
        self._date: str | None = None
        self._date_time = 0.0

    @property
    def clock_offset(self) -> float:
        """The provider's clock minus ours, in seconds, as the rate limit should believe it.

        The earliest the provider's clock can read, so that a reset is never believed to have
        come before it has; none at all while the clocks may agree.
        """
        if self._offset_low <= 0 <= self._offset_high:
            return 0.0
        return self._offset_low

    def provider_time(self, wall: float) -> float:
        """The provider's Unix time when ours is ``wall``."""
        return wall + self.clock_offset

    def remaining(self, now: float) -> float:
        """Seconds left in the pause in force, if any."""
        return max(0.0, self._resume_at - now)

    def pause(self, seconds: float, now: float) -> None:
        """Hold every request back for ``seconds`` (a 429 asked for it)."""
        self._resume_at = max(self._resume_at, now + seconds)
        if self._limit is not None:
            self._used = self._limit

    def take(self, now: float) -> float:
        """Count one request and return 0 if it may go now, else the seconds to wait first."""
        delay = self._resume_at - now
        if delay > 0:
            return delay
        if self._window_end is not None:
            if now >= self._window_end:
                self._window_end, self._window_header, self._used = None, None, 0
            elif self._limit is not None and self._used >= self._limit:
                return self._window_end - now
        self._used += 1
        return 0.0

    def requested_wait(self, headers: Mapping[str, str], wall: float) -> float | None:
        """Seconds a 429 asks to wait, its headers read against the provider's clock."""
        return rate_limit_delay(headers, self.provider_time(wall))

    def observe(self, headers: Mapping[str, str], *, now: float, sent: float, wall: float) -> None:
        """Learn the provider's clock and window from a response sent at ``sent`` (Unix time)
        and received at ``wall``."""
        if (date := headers.get(_DATE)) is not None:
            self._observe_date(date, sent, wall)
        reset = headers.get(_RESET)
        if reset is None:
            return
        if reset == self._window_header and self._limit is not None:
            # The same window as before: only the count can have moved.
            remaining = headers.get(_REMAINING, "")
            if remaining.isdigit() and (used := self._limit - int(remaining)) > self._used:
                self._used = used
            return
        provider_now = self.provider_time(wall)
        window = rate_limit_window(headers, provider_now)
        if window is None:
            return
        until_reset = window.reset_at - provider_now
        if until_reset <= 0:
            # Over already, by the provider's clock: nothing to hold back for.
            return
        self._limit = window.limit
        self._window_end = now + min(until_reset, self._cap)
        self._window_header = reset
        # Requests still in flight are counted already; the provider may have counted more
        # than we sent (another client of the key).
        self._used = max(self._used, window.limit - window.remaining)

    def _observe_date(self, date: str, sent: float, wall: float) -> None:
        # Answers within one second share their Date: it is read once.
        if date != self._date:
            try:
                self._date_time = parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                return
            self._date = date
        provider = self._date_time
        # The provider stamped the answer between our sending and receiving it, to the second.
        low, high = provider - wall, provider + 1 - sent
        if low > self._offset_high or high < self._offset_low:
            # Inconsistent with what came before: a clock was set; start over from this one.
            self._offset_low, self._offset_high = low, high
        else:
            # Narrowed on every response, so compared by hand: cheaper than min() and max().
            if low > self._offset_low:
                self._offset_low = low
            if high < self._offset_high:
                self._offset_high = high
