"""Bad input fails at construction, with a clear error, before anything is sent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from linkstats import (
    LinkStats,
    PauboxSend,
    PauboxSource,
    SendGridAutomation,
    SendGridSingleSend,
    SendGridSource,
)
from linkstats.providers.paubox import MARKETING_BASE_URL

SEND_ID = "1308ab8d-a128-498c-8367-f71ac16934e8"
STEP_A = "0fb9b1a7-7c3a-4d4c-9b2f-1d8d2a7e9c01"
STEP_B = "1ac0c2b8-8d4b-4e5d-8c30-2e9e3b8f0d12"

MALFORMED_UUIDS = [
    "",
    "not-a-uuid",
    "1308ab8da128498c8367f71ac16934e8",
    "{1308ab8d-a128-498c-8367-f71ac16934e8}",
    "urn:uuid:1308ab8d-a128-498c-8367-f71ac16934e8",
    " 1308ab8d-a128-498c-8367-f71ac16934e8",
    "1308ab8d-a128-498c-8367-f71ac16934e8\n",
    "1308ab8d-a128-498c-8367-f71ac16934eg",
    "1308ab8d-a128-498c-8367-f71ac16934e",
    "../../1308ab8d-a128-498c-8367-f71ac16934e8",
]


@pytest.mark.parametrize("send_id", MALFORMED_UUIDS)
def test_paubox_send_refuses_a_malformed_uuid(send_id: str) -> None:
    """Anything but the canonical 36-character form is a ValueError."""
    with pytest.raises(ValueError, match="canonical"):
        PauboxSend(send_id)


@pytest.mark.parametrize("automation_id", MALFORMED_UUIDS)
def test_sendgrid_automation_refuses_a_malformed_uuid(automation_id: str) -> None:
    """The automation id must be a canonical UUID too."""
    with pytest.raises(ValueError, match="canonical"):
        SendGridAutomation(automation_id)


def test_targets_accept_uuid_objects_and_either_case() -> None:
    """uuid.UUID values become their canonical string; upper-case hex is still canonical."""
    assert PauboxSend(uuid.UUID(SEND_ID)).send_id == SEND_ID
    assert PauboxSend(SEND_ID.upper()).send_id == SEND_ID.upper()


@pytest.mark.parametrize("order", ["ASC", "up", "", None])
def test_paubox_send_refuses_an_unknown_order(order: Any) -> None:
    """order is asc or desc, nothing else."""
    with pytest.raises(ValueError, match="order"):
        PauboxSend(SEND_ID, order=order)


@pytest.mark.parametrize("page_size", [0, 51, -1, 1000])
def test_sendgrid_automation_refuses_a_page_size_out_of_range(page_size: int) -> None:
    """page_size is 1..50, as SendGrid documents."""
    with pytest.raises(ValueError, match="page_size"):
        SendGridAutomation(SEND_ID, page_size=page_size)


@pytest.mark.parametrize("page_size", [True, 2.0, "10"])
def test_sendgrid_automation_refuses_a_page_size_that_is_not_an_int(page_size: Any) -> None:
    """A bool, float or string page_size is a TypeError."""
    with pytest.raises(TypeError, match="page_size"):
        SendGridAutomation(SEND_ID, page_size=page_size)


def test_step_ids_are_checked_deduplicated_and_hashable() -> None:
    """step_ids become a tuple of checked ids in the given order, without repeats."""
    target = SendGridAutomation(SEND_ID, step_ids=[STEP_B, STEP_A, STEP_B])

    assert target.step_ids == (STEP_B, STEP_A)
    assert hash(target) == hash(SendGridAutomation(SEND_ID, step_ids=(STEP_B, STEP_A)))


def test_step_ids_refuse_a_bare_string_and_malformed_ids() -> None:
    """A single string is not a list of ids, and each id must be a canonical UUID."""
    with pytest.raises(TypeError, match="single string"):
        SendGridAutomation(SEND_ID, step_ids=STEP_A)
    with pytest.raises(ValueError, match="canonical"):
        SendGridAutomation(SEND_ID, step_ids=[STEP_A, "step-2"])


def test_targets_are_frozen_and_hashable() -> None:
    """Targets are dictionary keys (collect's errors) and cannot change under a fetch."""
    target = PauboxSend(SEND_ID)

    assert {target: 1}[PauboxSend(SEND_ID)] == 1
    with pytest.raises(AttributeError):
        target.send_id = STEP_A  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "error_type", "match"),
    [
        ({"username": "", "api_key": "k"}, ValueError, "username"),
        ({"username": "a/b", "api_key": "k"}, ValueError, "username"),
        ({"username": "demo", "api_key": ""}, ValueError, "api_key"),
        ({"username": "demo", "api_key": "key\r\nX-Evil: 1"}, ValueError, "api_key"),
        ({"username": "demo", "api_key": 42}, TypeError, "api_key"),
        ({"username": "demo", "api_key": "k", "timeout": 0}, ValueError, "timeout"),
        ({"username": "demo", "api_key": "k", "max_retries": -1}, ValueError, "max_retries"),
        (
            {"username": "demo", "api_key": "k", "base_url": "http://example.com"},
            ValueError,
            "https",
        ),
        ({"username": "demo", "api_key": "k", "session": object()}, TypeError, "session"),
        ({"username": None, "api_key": "k"}, ValueError, "username is required"),
        (
            {"username": None, "api_key": "k", "base_url": "http://127.0.0.1:8080/v1/orca/"},
            ValueError,
            "username is required",
        ),
    ],
)
def test_sources_refuse_bad_configuration(
    arguments: dict[str, Any], error_type: type[Exception], match: str
) -> None:
    """Bad credentials, timeouts, retries, base URLs or sessions fail at construction."""
    with pytest.raises(error_type, match=match):
        PauboxSource(**arguments)


def test_configuration_errors_never_echo_the_key() -> None:
    """A rejected key is described, never quoted."""
    with pytest.raises(ValueError, match="api_key") as caught:
        SendGridSource(api_key="SG.secret value")

    assert "secret" not in str(caught.value)


def test_linkstats_refuses_no_sources_bad_concurrency_and_overlaps() -> None:
    """At least one source, concurrency >= 1, and one source per target type."""
    paubox = PauboxSource(username="demo", api_key="k")
    with pytest.raises(ValueError, match="at least one source"):
        LinkStats()
    with pytest.raises(ValueError, match="concurrency"):
        LinkStats(paubox, concurrency=0)
    with pytest.raises(ValueError, match="PauboxSend"):
        LinkStats(paubox, PauboxSource(username="other", api_key="k"))


async def test_targets_without_a_source_are_refused_before_sending() -> None:
    """A target type no source fetches is a TypeError when clicks() is called."""
    async with LinkStats(PauboxSource(username="demo", api_key="k")) as stats:
        with pytest.raises(TypeError, match="SendGridAutomation"):
            stats.clicks([PauboxSend(SEND_ID), SendGridAutomation(SEND_ID)])
        with pytest.raises(TypeError, match="SendGridAutomation"):
            await stats.collect([SendGridAutomation(SEND_ID)])
        with pytest.raises(TypeError, match="iterable"):
            stats.clicks("1308ab8d-a128-498c-8367-f71ac16934e8")


async def test_fetching_outside_async_with_is_refused() -> None:
    """Using LinkStats or a source without entering it is a RuntimeError, not a hang."""
    source = PauboxSource(username="demo", api_key="k")
    with pytest.raises(RuntimeError, match="async with"):
        await LinkStats(source).collect([PauboxSend(SEND_ID)])
    with pytest.raises(RuntimeError, match="async with"):
        await anext(source.clicks(PauboxSend(SEND_ID)))


def test_paubox_needs_no_username_on_its_newer_base_url() -> None:
    """The newer base URL names no account in its path, so no username goes into it."""
    source = PauboxSource(username=None, api_key="k", base_url=MARKETING_BASE_URL)

    assert source.first_request(PauboxSend(SEND_ID)).url.path == ("/v1/marketing/tracking_links")


@pytest.mark.parametrize(
    ("options", "error_type", "match"),
    [
        ({"order_by": ""}, ValueError, "order_by"),
        ({"order_by": "sent at"}, ValueError, "order_by"),
        ({"order_by": 3}, TypeError, "order_by"),
        ({"order": "up"}, ValueError, "order"),
        ({"search": 3}, TypeError, "search"),
    ],
)
def test_listing_options_are_checked_before_anything_is_sent(
    options: dict[str, Any], error_type: type[Exception], match: str
) -> None:
    """sends() refuses bad options when called, like targets do when constructed."""
    source = PauboxSource(username="demo", api_key="k")

    with pytest.raises(error_type, match=match):
        source.sends(**options)


@pytest.mark.parametrize(
    ("group_by", "kept", "query"),
    [
        (None, None, None),
        ("ab_phase", "ab_phase", "ab_phase"),
        (("ab_phase", "ab_variation"), ("ab_variation", "ab_phase"), "ab_variation,ab_phase"),
        (["ab_variation"], "ab_variation", "ab_variation"),
    ],
)
def test_a_single_send_splits_by_variation_phase_or_both(
    group_by: Any, kept: Any, query: str | None
) -> None:
    target = SendGridSingleSend(SINGLE_SEND_ID, group_by=group_by)
    first = SendGridSource(api_key="SG.key").first_request(target)

    assert target.group_by == kept
    assert first.url.query.get("group_by") == query


@pytest.mark.parametrize("group_by", ["step_id", ("ab_variation", "week"), 3])
def test_a_single_send_refuses_other_splits(group_by: Any) -> None:
    with pytest.raises(ValueError, match="group_by must be ab_variation, ab_phase or both"):
        SendGridSingleSend(SINGLE_SEND_ID, group_by=group_by)


SINGLE_SEND_ID = "6f6c2e3d-1b8a-4d5e-9f2a-3c4b5d6e7f80"
