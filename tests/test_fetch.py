"""Fetching against the simulator: exact records, exact requests, the documented wire format."""

from __future__ import annotations

import math

import aiohttp
from aiohttp import web
from conftest import (
    expected,
    expected_paubox,
    expected_sendgrid,
    paubox_source,
    sendgrid_source,
    serving,
    uuid_for,
)

import linkstats
from linkstats import (
    CollectResult,
    HTTPSource,
    LinkClick,
    LinkStats,
    Page,
    PageRequest,
    PauboxSend,
    Response,
    SendGridAutomation,
)
from linkstats.testing import (
    PauboxConfig,
    Quirks,
    Simulator,
    SimulatorConfig,
    sendgrid_automation_steps,
)


async def test_paubox_send_yields_every_row_as_a_record(simulator: Simulator) -> None:
    """One request, one record per tracking link, exactly as served."""
    target = PauboxSend(uuid_for(1))

    async with paubox_source(simulator) as source:
        records = [click async for click in source.clicks(target)]

    assert records == expected_paubox(simulator.config, target)
    assert len(records) > 0
    assert simulator.log.count() == 1


async def test_paubox_request_carries_the_documented_query_and_auth(simulator: Simulator) -> None:
    """GET {base}/{username}/tracking_links?campaign_mailing_send_id&order_by&order, Token auth."""
    target = PauboxSend(uuid_for(2), order_by="clicked", order="asc")

    async with paubox_source(simulator) as source:
        records = [click async for click in source.clicks(target)]

    (request,) = simulator.log.requests
    assert request.path == "/v1/orca/demo/tracking_links"
    assert request.query == (
        ("campaign_mailing_send_id", target.send_id),
        ("order_by", "clicked"),
        ("order", "asc"),
    )
    assert request.headers["Authorization"] == "Token token=paubox-demo-key"
    assert records == expected_paubox(simulator.config, target)


async def test_sendgrid_automation_follows_next_to_the_last_page(simulator: Simulator) -> None:
    """Small pages are followed through _metadata.next; one request per page, no more."""
    target = SendGridAutomation(uuid_for(3), group_by_step=True, page_size=2)
    rows = expected_sendgrid(simulator.config, target)

    async with sendgrid_source(simulator) as source:
        records = [click async for click in source.clicks(target)]

    assert records == rows
    assert len(rows) > 4
    assert simulator.log.count() == math.ceil(len(rows) / 2)
    first, *rest = simulator.log.requests
    assert first.path == f"/v3/marketing/stats/automations/{target.automation_id}/links"
    assert first.headers["Authorization"] == "Bearer SG.demo-key"
    assert ("group_by", "step_id") in first.query
    assert all(any(key == "page_token" for key, _ in request.query) for request in rest)


async def test_sendgrid_step_ids_go_as_one_comma_separated_value(simulator: Simulator) -> None:
    """step_ids is explode: false in the spec: one key, values joined by commas."""
    automation_id = uuid_for(4)
    steps = sendgrid_automation_steps(simulator.config, automation_id)
    target = SendGridAutomation(automation_id, step_ids=steps[:2], group_by_step=True)

    async with sendgrid_source(simulator) as source:
        records = [click async for click in source.clicks(target)]

    step_values = [value for key, value in simulator.log.requests[0].query if key == "step_ids"]
    assert step_values == [",".join(steps[:2])]
    assert records == expected_sendgrid(simulator.config, target)
    assert {record.step_id for record in records} <= set(steps[:2])


async def test_ungrouped_automation_rows_are_for_all_steps(simulator: Simulator) -> None:
    """Without group_by, none is sent, and records say what SendGrid says: step "all"."""
    target = SendGridAutomation(uuid_for(5))

    async with sendgrid_source(simulator) as source:
        records = [click async for click in source.clicks(target)]

    assert records == expected_sendgrid(simulator.config, target)
    assert not any(key == "group_by" for key, _ in simulator.log.requests[0].query)
    assert {record.step_id for record in records} == {"all"}


async def test_collect_returns_every_record_in_target_order(simulator: Simulator) -> None:
    """collect over both providers: all records, grouped by target in the order given."""
    targets = [
        target
        for number in range(12)
        for target in (
            PauboxSend(uuid_for(number, kind=1)),
            SendGridAutomation(uuid_for(number, kind=2), page_size=5),
        )
    ]

    async with LinkStats(
        paubox_source(simulator), sendgrid_source(simulator), concurrency=6
    ) as stats:
        result = await stats.collect(targets)

    assert result.ok
    assert result.errors == {}
    assert list(result.clicks) == [
        record for target in targets for record in expected(simulator.config, target)
    ]


async def test_clicks_streams_the_same_records_as_collect(simulator: Simulator) -> None:
    """clicks() merges targets as they arrive: the same records, in some interleaving."""
    targets = [PauboxSend(uuid_for(n, kind=1)) for n in range(5)] + [
        SendGridAutomation(uuid_for(n, kind=2), page_size=3) for n in range(5)
    ]
    wanted = [record for target in targets for record in expected(simulator.config, target)]

    async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
        streamed = [click async for click in stats.clicks(targets)]

    assert sorted(streamed, key=repr) == sorted(wanted, key=repr)
    for target in targets:
        per_target = [record for record in streamed if record.source_id == _id_of(target)]
        assert per_target == expected(simulator.config, target)


async def test_repeated_targets_are_fetched_once(simulator: Simulator) -> None:
    """Targets are values: the same one twice is one fetch and one set of records."""
    target = PauboxSend(uuid_for(6))

    async with LinkStats(paubox_source(simulator)) as stats:
        result = await stats.collect([target, PauboxSend(uuid_for(6)), target])

    assert list(result.clicks) == expected_paubox(simulator.config, target)
    assert simulator.log.count() == 1


async def test_empty_target_list_sends_nothing(simulator: Simulator) -> None:
    """No targets, no requests, an empty result."""
    async with LinkStats(paubox_source(simulator)) as stats:
        result: CollectResult[PauboxSend] = await stats.collect([])
        streamed = [click async for click in stats.clicks([])]

    assert result.clicks == []
    assert streamed == []
    assert simulator.log.count() == 0


async def test_seeds_change_the_data() -> None:
    """The simulator's data follows its seed, so the comparisons above are not vacuous."""
    target = PauboxSend(uuid_for(7))
    async with (
        Simulator(SimulatorConfig(seed=1)) as first,
        Simulator(SimulatorConfig(seed=2)) as second,
    ):
        async with paubox_source(first) as one, paubox_source(second) as two:
            from_first = [click async for click in one.clicks(target)]
            from_second = [click async for click in two.clicks(target)]

    assert from_first == expected_paubox(first.config, target)
    assert from_second == expected_paubox(second.config, target)
    assert from_first != from_second


def _id_of(target: object) -> str:
    return target.send_id if isinstance(target, PauboxSend) else target.automation_id  # type: ignore[attr-defined]


async def test_every_tolerated_quirk_still_gives_exact_records() -> None:
    """Nulls, raw non-ASCII URLs and unknown fields, all on: the same exact records."""
    config = SimulatorConfig(paubox=PauboxConfig(links_per_email=(8, 8)), quirks=Quirks.all())
    targets: list[PauboxSend | SendGridAutomation] = [PauboxSend(uuid_for(n)) for n in range(5)]
    targets += [SendGridAutomation(uuid_for(n, kind=2)) for n in range(5)]
    async with Simulator(config) as simulator:
        async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
            result = await stats.collect(targets)

    assert result.errors == {}
    assert result.clicks == [click for target in targets for click in expected(config, target)]
    assert any(not str(click.url).isascii() for click in result.clicks)
    assert any(click.opened_at is None and click.clicks == 0 for click in result.clicks)


async def test_requests_name_linkstats_unless_the_callers_session_says_otherwise(
    simulator: Simulator,
) -> None:
    """Sources' own sessions send `User-Agent: linkstats/<version>`; a caller's keeps its own."""
    target = [SendGridAutomation(uuid_for(1))]
    async with LinkStats(sendgrid_source(simulator)) as stats:
        await stats.collect(target)
    async with aiohttp.ClientSession(headers={"User-Agent": "their-app/2"}) as session:
        async with LinkStats(sendgrid_source(simulator, session=session)) as stats:
            await stats.collect(target)

    agents = [record.headers.get("User-Agent") for record in simulator.log.requests]
    assert agents == [f"linkstats/{linkstats.__version__}", "their-app/2"]


class _SignedSource(HTTPSource[str]):
    """A provider whose requests carry a header of their own, one of them the source's too."""

    provider = "signed"
    target_types = (str,)

    def __init__(self, base_url: str) -> None:
        super().__init__(
            base_url=base_url,
            headers={"Authorization": "Bearer source-key", "Accept": "application/json"},
            secrets=("source-key",),
        )

    def first_request(self, target: str) -> PageRequest:
        return PageRequest(
            self.base_url / "links" / target,
            headers={"authorization": f"Signature {target}", "X-Request-Id": target},
        )

    def parse_page(self, target: str, response: Response) -> Page[LinkClick]:
        return Page([])


async def test_a_requests_own_header_replaces_the_sources_whatever_its_case() -> None:
    """One Authorization header goes, the request's; the source's other headers go with it."""
    received: list[list[tuple[str, str]]] = []

    async def links(request: web.Request) -> web.Response:
        received.append(
            [
                (name.lower(), value)
                for name, value in request.headers.items()
                if name.lower() in {"authorization", "accept", "x-request-id"}
            ]
        )
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/links/{id}", links)
    async with serving(app) as origin, _SignedSource(origin) as source:
        assert [page async for page in source.pages("abc")] == [[]]

    assert received == [
        [
            ("authorization", "Signature abc"),
            ("accept", "application/json"),
            ("x-request-id", "abc"),
        ]
    ]
