"""Retry decisions and the rate-limit gate, checked from values alone: no server, no clock."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import pytest
from multidict import CIMultiDict

from linkstats import Action, Decision, Failure, Outcome, RetryPolicy
from linkstats._policy import RateLimitGate

WALL = 1_800_000_000.0  # our Unix time in the gate scenarios
NOW = 500.0  # the event loop's time at WALL
POLICY = RetryPolicy(max_retries=3, backoff=0.5, max_backoff=4.0, max_rate_limit_wait=60.0)


def give_up() -> Decision:
    return Decision(Action.GIVE_UP)


@pytest.mark.parametrize(
    ("outcome", "retries", "remaining", "jitter", "decision"),
    [
        # Retryable statuses back off with full jitter, doubling, up to max_backoff.
        (Outcome(status=503), 0, None, 0.5, Decision(Action.RETRY, 0.25)),
        (Outcome(status=500), 1, None, 1.0, Decision(Action.RETRY, 1.0)),
        (Outcome(status=502), 2, None, 0.0, Decision(Action.RETRY, 0.0)),
        (Outcome(status=504), 2, None, 1.0, Decision(Action.RETRY, 2.0)),
        # ... until the retries are spent.
        (Outcome(status=503), 3, None, 0.5, give_up()),
        # Statuses that another attempt cannot change fail at once.
        (Outcome(status=400), 0, None, 0.5, give_up()),
        (Outcome(status=401), 0, None, 0.5, give_up()),
        (Outcome(status=404), 0, None, 0.5, give_up()),
        (Outcome(status=302), 0, None, 0.5, give_up()),
        # A 429 pauses the whole source for what the provider asked, capped ...
        (Outcome(status=429, rate_limit_wait=2.5), 0, None, 0.9, Decision(Action.PAUSE, 2.5)),
        (Outcome(status=429, rate_limit_wait=3600), 0, None, 0.9, Decision(Action.PAUSE, 60.0)),
        # ... or, asking nothing usable, backs off like any other.
        (Outcome(status=429), 1, None, 0.5, Decision(Action.RETRY, 0.5)),
        (Outcome(status=429, rate_limit_wait=-3.0), 0, None, 1.0, Decision(Action.RETRY, 0.5)),
        (Outcome(status=429, rate_limit_wait=1.0), 3, None, 0.5, give_up()),
        # Failures without a response: the network's are retried, the rest are not.
        (Outcome(failure=Failure.CONNECTION), 0, None, 1.0, Decision(Action.RETRY, 0.5)),
        (Outcome(failure=Failure.TIMEOUT), 0, None, 1.0, Decision(Action.RETRY, 0.5)),
        (Outcome(failure=Failure.MALFORMED), 0, None, 1.0, Decision(Action.RETRY, 0.5)),
        (Outcome(failure=Failure.TLS), 0, None, 1.0, give_up()),
        (Outcome(failure=Failure.CLOSED), 0, None, 1.0, give_up()),
        (Outcome(failure=Failure.REQUEST), 0, None, 1.0, give_up()),
        # A wait that would end past the target's deadline is not begun.
        (Outcome(status=503), 0, 0.3, 1.0, give_up()),
        (Outcome(status=503), 0, 0.6, 1.0, Decision(Action.RETRY, 0.5)),
        (Outcome(status=503), 0, 0.5, 1.0, give_up()),
        (Outcome(status=429, rate_limit_wait=2.0), 0, 1.0, 0.0, give_up()),
        (Outcome(failure=Failure.TIMEOUT), 0, 0.0, 0.0, give_up()),
    ],
)
def test_each_outcome_gets_its_decision(
    outcome: Outcome, retries: int, remaining: float | None, jitter: float, decision: Decision
) -> None:
    """Retry with jittered backoff, pause for a 429, or give up; never past the deadline."""
    assert POLICY.decide(outcome, retries=retries, remaining=remaining, jitter=jitter) == decision


def test_backoff_is_capped_however_many_retries() -> None:
    """The hundredth retry waits no longer than max_backoff."""
    policy = RetryPolicy(max_retries=100, backoff=0.5, max_backoff=4.0)

    decision = policy.decide(Outcome(status=503), retries=99, remaining=None, jitter=1.0)

    assert decision == Decision(Action.RETRY, 4.0)


@pytest.mark.parametrize(
    ("policy", "outcome", "action"),
    [
        (RetryPolicy(retry_statuses=frozenset({409})), Outcome(status=409), Action.RETRY),
        (RetryPolicy(retry_statuses=frozenset({409})), Outcome(status=503), Action.GIVE_UP),
        (RetryPolicy(retry_failures=frozenset()), Outcome(failure=Failure.TIMEOUT), Action.GIVE_UP),
        (
            RetryPolicy(retry_failures={Failure.TLS}),
            Outcome(failure=Failure.TLS),
            Action.RETRY,
        ),
        (RetryPolicy(max_retries=0), Outcome(status=503), Action.GIVE_UP),
    ],
)
def test_what_is_retried_is_named_by_the_policy(
    policy: RetryPolicy, outcome: Outcome, action: Action
) -> None:
    """Only the statuses and failures the policy names are retried."""
    assert policy.decide(outcome, retries=0, remaining=None, jitter=0.5).action is action


@pytest.mark.parametrize(
    ("options", "error_type", "match"),
    [
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"max_retries": 101}, ValueError, "max_retries"),
        ({"max_retries": 2.0}, TypeError, "max_retries"),
        ({"backoff": -0.1}, ValueError, "backoff"),
        ({"max_backoff": "1"}, ValueError, "max_backoff"),
        ({"max_rate_limit_wait": float("nan")}, ValueError, "max_rate_limit_wait"),
        ({"deadline": 0}, ValueError, "deadline"),
        ({"deadline": True}, ValueError, "deadline"),
    ],
)
def test_a_policy_refuses_bad_values(
    options: dict[str, Any], error_type: type[Exception], match: str
) -> None:
    """Mistyped knobs fail where they are written, as the sources' own checks do."""
    with pytest.raises(error_type, match=match):
        RetryPolicy(**options)


def headers(**values: str | float) -> CIMultiDict[str]:
    return CIMultiDict({name.replace("_", "-"): str(value) for name, value in values.items()})


def stamped(offset: float, wall: float = WALL, **values: str | float) -> CIMultiDict[str]:
    """A response's headers, its Date by a provider clock ``offset`` seconds from ours."""
    return headers(Date=formatdate(wall + offset, usegmt=True), **values)


def spend(gate: RateLimitGate, now: float) -> int:
    """Requests the gate lets through at ``now`` before it asks for a wait."""
    sent = 0
    while gate.take(now) == 0:
        sent += 1
    return sent


def test_a_spent_window_holds_requests_until_its_reset() -> None:
    """Remaining 0 with a reset 0.4 s away: the next request waits 0.4 s, then goes."""
    gate = RateLimitGate(cap=60)
    gate.take(NOW)
    gate.observe(
        stamped(0, X_RateLimit_Limit=60, X_RateLimit_Remaining=0, X_RateLimit_Reset=WALL + 0.4),
        now=NOW,
        sent=WALL,
        wall=WALL,
    )

    assert gate.take(NOW) == pytest.approx(0.4)
    assert gate.take(NOW + 0.41) == 0


@pytest.mark.parametrize("offset", [30.0, -30.0, 3600.0, -0.7])
def test_resets_are_read_on_the_providers_clock(offset: float) -> None:
    """With the provider's clock ahead or behind, a reset 0.5 s away on it is 0.5 s away."""
    gate = RateLimitGate(cap=60)
    # Answers stamped across a second boundary of the provider's clock pin the offset down.
    for step in range(10):
        wall = WALL + 0.13 + step * 0.1
        gate.observe(stamped(offset, wall=wall), now=NOW, sent=wall - 0.001, wall=wall)
    wall = WALL + 1.1
    provider_now = wall + offset
    gate.take(NOW)
    gate.observe(
        stamped(
            offset,
            wall=wall,
            X_RateLimit_Limit=10,
            X_RateLimit_Remaining=0,
            X_RateLimit_Reset=provider_now + 0.5,
        ),
        now=NOW,
        sent=wall - 0.001,
        wall=wall,
    )

    assert gate.clock_offset == pytest.approx(offset, abs=0.11)
    # Never sooner than the reset; later by no more than the offset's uncertainty.
    assert 0.5 <= gate.take(NOW) <= 0.5 + 0.11


def test_clocks_that_may_agree_are_taken_to_agree() -> None:
    """An unskewed provider keeps today's reading exactly: offset 0."""
    gate = RateLimitGate(cap=60)

    gate.observe(stamped(0, wall=WALL + 0.7), now=NOW, sent=WALL + 0.69, wall=WALL + 0.7)

    assert gate.clock_offset == 0.0


def test_a_far_reset_is_believed_no_further_than_the_cap_and_then_replaced() -> None:
    """A reset an hour away holds requests for the cap once; fresh headers then rule."""
    gate = RateLimitGate(cap=1.0)
    gate.take(NOW)
    far = stamped(0, X_RateLimit_Limit=100, X_RateLimit_Remaining=0, X_RateLimit_Reset=WALL + 3600)
    gate.observe(far, now=NOW, sent=WALL, wall=WALL)

    assert gate.take(NOW) == pytest.approx(1.0)

    later, wall = NOW + 1.0, WALL + 1.0
    gate.take(later)
    fresh = stamped(
        0, wall=wall, X_RateLimit_Limit=100, X_RateLimit_Remaining=90, X_RateLimit_Reset=wall + 1
    )
    gate.observe(fresh, now=later, sent=wall, wall=wall)

    # Ten used of a hundred, the provider says: ninety more may go now.
    assert spend(gate, later) == 90


def test_a_reset_already_past_holds_nothing() -> None:
    """By the provider's clock the window is over: requests go at once."""
    gate = RateLimitGate(cap=60)
    gate.take(NOW)
    gate.observe(
        stamped(0, X_RateLimit_Limit=5, X_RateLimit_Remaining=0, X_RateLimit_Reset=WALL - 2),
        now=NOW,
        sent=WALL,
        wall=WALL,
    )

    assert gate.take(NOW) == 0


def test_requests_in_flight_count_against_the_window() -> None:
    """Four sent, the first answer says 2 of 5 used: one more may go, not three."""
    gate = RateLimitGate(cap=60)
    for _ in range(4):
        assert gate.take(NOW) == 0
    gate.observe(
        stamped(0, X_RateLimit_Limit=5, X_RateLimit_Remaining=3, X_RateLimit_Reset=WALL + 1),
        now=NOW,
        sent=WALL,
        wall=WALL,
    )

    assert spend(gate, NOW) == 1


def test_a_retry_after_date_is_read_on_the_providers_clock() -> None:
    """An HTTP-date Retry-After from a clock 30 s behind asks for its 2 s, not 32 s less."""
    gate = RateLimitGate(cap=60)
    for step in range(10):
        wall = WALL + 0.13 + step * 0.1
        gate.observe(stamped(-30, wall=wall), now=NOW, sent=wall - 0.001, wall=wall)
    wall = WALL + 1.5
    retry_at = formatdate(round(wall - 30 + 2), usegmt=True)

    wait = gate.requested_wait(headers(Retry_After=retry_at), wall)

    assert wait is not None
    assert 1.4 <= wait <= 2.6


def test_a_pause_holds_every_request_and_spends_the_window() -> None:
    """After a 429's pause, the window's budget counts as used until its end."""
    gate = RateLimitGate(cap=60)
    gate.take(NOW)
    gate.observe(
        stamped(0, X_RateLimit_Limit=5, X_RateLimit_Remaining=4, X_RateLimit_Reset=WALL + 3),
        now=NOW,
        sent=WALL,
        wall=WALL,
    )

    gate.pause(1.0, NOW)

    assert gate.take(NOW) == pytest.approx(1.0)
    assert gate.take(NOW + 1.0) == pytest.approx(2.0)
    assert gate.take(NOW + 3.0) == 0
