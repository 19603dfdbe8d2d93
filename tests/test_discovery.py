"""Beyond the two link endpoints: single sends, per-link totals, listing every campaign.

Shapes follow ../shared/reference: SendGrid's ``SinglesendsLinkStatsResponse``,
``AutomationsResponse`` and ``SinglesendsResponse``; Paubox's
``tracking_links_by_unique_link`` (``data[]`` of ``{html_id, target_url, clicked}``) and
``campaign_mailing_sends_table`` (``data[]`` of ``{id, ..., sent_at, subscription_list_name}``).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import expected, expected_timestamp, expected_url, paubox_source, sendgrid_source
from conftest import uuid_for as uid

from linkstats import (
    Campaign,
    LinkClick,
    LinkStats,
    Listing,
    NotFoundError,
    PaginationError,
    PauboxSend,
    PauboxSource,
    Provider,
    SendGridAutomation,
    SendGridSingleSend,
    SendGridSource,
    ServerError,
)
from linkstats.providers.sendgrid import EU_BASE_URL
from linkstats.reports import totals
from linkstats.testing import (
    Behavior,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    paubox_sends_table,
    paubox_tracking_links_by_unique_link,
    sendgrid_automation_ids,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
    sendgrid_single_send_variations,
)


def expected_single_send(config: SimulatorConfig, target: SendGridSingleSend) -> list[LinkClick]:
    rows = sendgrid_single_send_links(
        config,
        target.single_send_id,
        group_by=(target.group_by,) if isinstance(target.group_by, str) else target.group_by or (),
        ab_variation_id=target.ab_variation_id,
        ab_phase_id=target.ab_phase_id,
    )
    return [
        LinkClick(
            Provider.SENDGRID,
            target.single_send_id,
            expected_url(row["url"]),
            row["clicks"],
            url_location=row.get("url_location"),
            ab_variation=row.get("ab_variation"),
            ab_phase=row.get("ab_phase"),
        )
        for row in rows
    ]


async def fetch(source: Any, target: Any) -> list[LinkClick]:
    async with source:
        return [click async for click in source.clicks(target)]


@pytest.mark.parametrize(
    "options",
    [{}, {"group_by": "ab_variation"}, {"group_by": "ab_phase"}, {"ab_phase_id": "send"}],
)
async def test_single_send_links_map_to_exact_records(
    simulator: Simulator, options: dict[str, Any]
) -> None:
    """Every row, ab_variation and ab_phase as SendGrid reported them ("all" when not split)."""
    target = SendGridSingleSend(uid(1), page_size=3, **options)

    records = await fetch(sendgrid_source(simulator), target)

    assert records == expected_single_send(simulator.config, target)
    assert simulator.log.count() == max(1, math.ceil(len(records) / 3))
    first = simulator.log.requests[0]
    assert first.path == f"/v3/marketing/stats/singlesends/{uid(1)}/links"
    assert dict(first.query) == {"page_size": "3", **options}


async def test_single_send_filtered_by_variation(simulator: Simulator) -> None:
    """ab_variation_id narrows the rows to one variation."""
    variation = sendgrid_single_send_variations(simulator.config, uid(2))[0]
    target = SendGridSingleSend(uid(2), ab_variation_id=variation)

    records = await fetch(sendgrid_source(simulator), target)

    assert records == expected_single_send(simulator.config, target)
    assert records
    assert {record.ab_variation for record in records} == {variation}


@pytest.mark.parametrize(
    ("options", "error_type"),
    [
        ({"group_by": "step_id"}, ValueError),
        ({"ab_phase_id": "final"}, ValueError),
        ({"ab_variation_id": "variation-a"}, ValueError),
        ({"page_size": 51}, ValueError),
    ],
)
def test_single_send_refuses_bad_options(
    options: dict[str, Any], error_type: type[Exception]
) -> None:
    """group_by, the phase, the variation id and page_size are checked at construction."""
    with pytest.raises(error_type):
        SendGridSingleSend(uid(1), **options)


async def test_single_send_errors_are_typed() -> None:
    """A missing single send is NotFoundError; a foreign next link is refused."""
    config = SimulatorConfig(behaviors={uid(1): Behavior.NOT_FOUND, uid(2): Behavior.FOREIGN_NEXT})
    async with Simulator(config) as simulator:
        async with LinkStats(sendgrid_source(simulator)) as stats:
            result = await stats.collect([SendGridSingleSend(uid(1)), SendGridSingleSend(uid(2))])

    assert type(result.errors[SendGridSingleSend(uid(1))]) is NotFoundError
    assert type(result.errors[SendGridSingleSend(uid(2))]) is PaginationError


async def test_paubox_per_link_totals(simulator: Simulator) -> None:
    """One record per link of the email, clicks summed over deliveries, html_id as link_id."""
    target = PauboxSend(uid(3), per_link_totals=True)

    records = await fetch(paubox_source(simulator), target)

    rows = paubox_tracking_links_by_unique_link(simulator.config, uid(3))
    assert records == [
        LinkClick(
            Provider.PAUBOX,
            uid(3),
            expected_url(row.get("target_url")),
            row.get("clicked") or 0,
            link_id=row.get("html_id"),
        )
        for row in rows
    ]
    (request,) = simulator.log.requests
    assert request.path == "/v1/orca/demo/analytics/tracking_links_by_unique_link"
    assert request.query == (("campaign_mailing_send_id", uid(3)),)


async def test_per_link_totals_agree_with_the_per_delivery_rows(simulator: Simulator) -> None:
    """Both Paubox endpoints give the same total clicks for a send."""
    async with LinkStats(paubox_source(simulator)) as stats:
        per_delivery = await stats.collect([PauboxSend(uid(4))])
        per_link = await stats.collect([PauboxSend(uid(4), per_link_totals=True)])

    assert sum(c.clicks for c in per_link.clicks) == sum(c.clicks for c in per_delivery.clicks)


async def test_paubox_newer_base_url_needs_no_username(simulator: Simulator) -> None:
    """username=None with https://api.paubox.com/v1/marketing: the same data, no account path."""
    source = PauboxSource(
        username=None,
        api_key=simulator.config.paubox.api_key,
        base_url=simulator.paubox_marketing_base_url,
    )
    target = PauboxSend(uid(5))

    records = await fetch(source, target)

    assert records == expected(simulator.config, target)
    assert simulator.log.requests[0].path == "/v1/marketing/tracking_links"


def test_the_eu_region_is_a_base_url() -> None:
    """SendGrid's EU host is the same API elsewhere."""
    source = SendGridSource(api_key="SG.key", base_url=EU_BASE_URL)

    url = source.first_request(SendGridAutomation(uid(1))).url

    assert url.host == "api.eu.sendgrid.com"
    assert url.path == f"/v3/marketing/stats/automations/{uid(1)}/links"


async def test_sendgrid_lists_every_automation_and_single_send_to_the_last_page() -> None:
    """Listings follow _metadata.next to the end; each campaign once, in listing order."""
    automations = tuple(uid(n, kind=7) for n in range(120))
    single_sends = tuple(uid(n, kind=8) for n in range(70))
    config = SimulatorConfig(
        sendgrid=SendGridConfig(automation_ids=automations, single_send_ids=single_sends)
    )
    async with Simulator(config) as simulator:
        async with sendgrid_source(simulator) as source:
            listed_automations = [c async for c in source.automations()]
            listed_single_sends = [c async for c in source.single_sends()]

    assert [c.target for c in listed_automations] == [SendGridAutomation(a) for a in automations]
    assert [c.target for c in listed_single_sends] == [SendGridSingleSend(s) for s in single_sends]
    assert all(c.provider == "sendgrid" for c in listed_automations + listed_single_sends)
    assert simulator.log.count("/v3/marketing/stats/automations") == 3
    assert simulator.log.count("/v3/marketing/stats/singlesends") == 2


async def test_paubox_lists_its_sends_with_name_and_time(simulator: Simulator) -> None:
    """campaign_mailing_sends_table: each send's id, list name and sent_at."""
    async with paubox_source(simulator) as source:
        listed = [c async for c in source.sends()]

    rows = paubox_sends_table(simulator.config)
    assert listed == [
        Campaign(
            Provider.PAUBOX,
            PauboxSend(row["id"]),
            name=row["subscription_list_name"],
            sent_at=expected_timestamp(row["sent_at"]),
        )
        for row in rows
    ]
    sends = [campaign.target.send_id for campaign in listed]
    assert sorted(sends) == sorted(paubox_send_ids(simulator.config))


async def test_paubox_listing_search_and_order_are_sent(simulator: Simulator) -> None:
    """search, order_by and order go as query parameters and come back applied."""
    name = paubox_sends_table(simulator.config)[0]["subscription_list_name"]
    word = name.split()[0].lower()

    async with paubox_source(simulator) as source:
        listed = [
            c.target async for c in source.sends(search=word, order_by="sent_at", order="asc")
        ]

    rows = paubox_sends_table(simulator.config, search=word, order_by="sent_at", order="asc")
    assert listed == [PauboxSend(row["id"]) for row in rows]
    assert listed
    assert simulator.log.requests[0].query == (
        ("search", word),
        ("order_by", "sent_at"),
        ("order", "asc"),
    )


async def test_discover_then_collect_is_everything(simulator: Simulator) -> None:
    """LinkStats.discover() lists every campaign of every source; collect fetches them all."""
    async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
        campaigns = [campaign async for campaign in stats.discover()]
        result = await stats.collect([campaign.target for campaign in campaigns])

    config = simulator.config
    assert [c.target for c in campaigns] == [
        *(c.target for c in campaigns if isinstance(c.target, PauboxSend)),
        *(SendGridAutomation(a) for a in sendgrid_automation_ids(config)),
        *(SendGridSingleSend(s) for s in sendgrid_single_send_ids(config)),
    ]
    assert len(campaigns) == (
        len(paubox_send_ids(config))
        + len(sendgrid_automation_ids(config))
        + len(sendgrid_single_send_ids(config))
    )
    assert result.ok
    by_hand: list[LinkClick] = []
    for campaign in campaigns:
        target = campaign.target
        by_hand += (
            expected_single_send(config, target)
            if isinstance(target, SendGridSingleSend)
            else expected(config, target)
        )
    assert totals(result.clicks) == totals(by_hand)


@pytest.mark.parametrize(
    ("behavior", "error_type"),
    [
        (Behavior.SERVER_ERROR, ServerError),
        (Behavior.NOT_FOUND, NotFoundError),
        (Behavior.FOREIGN_NEXT, PaginationError),
    ],
)
async def test_a_failing_listing_raises_a_typed_error(
    behavior: Behavior, error_type: type[Exception]
) -> None:
    """Listings get the same retries, origin checks and typed errors as everything else."""
    config = SimulatorConfig(
        sendgrid=SendGridConfig(automation_ids=tuple(uid(n) for n in range(60))),
        listing_behavior=behavior,
    )
    async with Simulator(config) as simulator:
        async with LinkStats(sendgrid_source(simulator, max_retries=1)) as stats:
            with pytest.raises(error_type) as caught:
                [campaign async for campaign in stats.discover()]

    assert caught.value.target == Listing("sendgrid", "automations")  # type: ignore[attr-defined]
