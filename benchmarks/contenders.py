"""The workloads fetched and the clients compared on them.

Every contender fetches the same targets from the same simulator with the same concurrency,
keeps what it fetched the way it would be used, and returns how many records and pages it
got. The floor is the plainest fast loop: aiohttp and orjson, no cookie jar, no timers, rows
kept in a list as plain tuples. linkstats keeps typed ``LinkClick`` records (``collect()``) or
streams them (``clicks()``, counted and dropped).

run.py runs contenders side by side in one process; a single run, for profiling
(``valgrind --tool=callgrind``), is

    python benchmarks/contenders.py WORKLOAD CONTENDER ORIGIN COUNT

against a simulator started with the workload's options, printing records and pages.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any

import aiohttp
import attrs
import httpx
import orjson
from sendgrid import SendGridAPIClient
from yarl import URL

from linkstats import (
    LinkStats,
    PauboxSend,
    PauboxSource,
    SendGridAutomation,
    SendGridSource,
)
from linkstats.testing import PauboxConfig, SendGridConfig

SENDGRID_KEY = SendGridConfig().api_key
PAUBOX = PauboxConfig()
SENDGRID_HEADERS = {"Authorization": f"Bearer {SENDGRID_KEY}"}
PAUBOX_HEADERS = {"authorization": f"Token token={PAUBOX.api_key}"}


@attrs.frozen
class Tally:
    records: int
    pages: int


@attrs.frozen
class Workload:
    """What is fetched: the simulator's options and the targets, by count."""

    name: str
    provider: str
    server: dict[str, Any]
    make_targets: Callable[[int], list[Hashable]]
    count: int

    def targets(self, count: int | None = None) -> list[Hashable]:
        return self.make_targets(self.count if count is None else count)


Contender = Callable[[URL, Sequence[Any], int], Coroutine[Any, Any, Tally]]


def target_id(kind: str, number: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://linkstats.bench/{kind}/{number}"))


def automations(page_size: int, *, group_by_step: bool = True) -> Callable[[int], list[Hashable]]:
    def make(count: int) -> list[Hashable]:
        return [
            SendGridAutomation(
                target_id(f"sendgrid-{page_size}", n), group_by_step=group_by_step,
                page_size=page_size,
            )
            for n in range(count)
        ]  # fmt: skip

    return make


def paubox_sends(count: int) -> list[Hashable]:
    return [PauboxSend(target_id("paubox", n)) for n in range(count)]


# Links differ from campaign to campaign, so a URL cache cannot hide parsing.
_VARIED = {"seed": 1, "distinct_urls": True}
_DENSE = PauboxConfig(deliveries_per_send=(10, 10), links_per_email=(10, 10))
WORKLOADS = {
    workload.name: workload
    for workload in (
        Workload(
            "sendgrid-25",
            "sendgrid",
            {**_VARIED, "sendgrid": SendGridConfig(steps_per_automation=(4, 8))},
            automations(25),
            600,
        ),
        Workload(
            "sendgrid-50",
            "sendgrid",
            {**_VARIED, "sendgrid": SendGridConfig(steps_per_automation=(8, 12))},
            automations(50),
            600,
        ),
        Workload(
            "paubox-100",
            "paubox",
            {**_VARIED, "paubox": _DENSE},
            paubox_sends,
            1000,
        ),
        Workload(
            "sendgrid-single", "sendgrid", {"seed": 1}, automations(50, group_by_step=False), 200
        ),
    )
}  # fmt: skip


def source_for(workload: Workload, origin: URL) -> PauboxSource | SendGridSource:
    if workload.provider == "paubox":
        return PauboxSource(
            username=PAUBOX.username, api_key=PAUBOX.api_key, base_url=origin / "v1/orca"
        )
    return SendGridSource(api_key=SENDGRID_KEY, base_url=origin)


def linkstats_collect(workload: Workload) -> Contender:
    async def run(origin: URL, targets: Sequence[Any], concurrency: int) -> Tally:
        source = source_for(workload, origin)
        async with LinkStats(source, concurrency=concurrency) as stats:
            result = await stats.collect(targets)
        assert result.ok, result.errors
        return Tally(len(result.clicks), source.stats.requests)

    return run


def linkstats_clicks(workload: Workload) -> Contender:
    async def run(origin: URL, targets: Sequence[Any], concurrency: int) -> Tally:
        source = source_for(workload, origin)
        records = 0
        async with LinkStats(source, concurrency=concurrency) as stats:
            async for _ in stats.clicks(targets):
                records += 1
        return Tally(records, source.stats.requests)

    return run


def first_page(origin: URL, target: SendGridAutomation) -> URL:
    query = {"page_size": str(target.page_size)}
    if target.group_by_step:
        query["group_by"] = "step_id"
    links = origin / "v3/marketing/stats/automations" / target.automation_id / "links"
    return links.with_query(query)


def floor_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(),
    )


async def floor_sendgrid(origin: URL, targets: Sequence[Any], concurrency: int) -> Tally:
    """The floor for SendGrid: workers following ``_metadata.next``, rows kept as tuples."""
    pending = iter(targets)
    rows: list[tuple[Any, ...]] = []
    pages = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal pages
        for target in pending:
            url: URL | None = first_page(origin, target)
            while url is not None:
                async with session.get(url, headers=SENDGRID_HEADERS) as response:
                    payload = orjson.loads(await response.read())
                pages += 1
                rows.extend(
                    [
                        (row["url"], row["clicks"], row.get("step_id"), row.get("url_location"))
                        for row in payload["results"]
                    ]
                )
                link = payload["_metadata"].get("next")
                url = URL(link, encoded=True) if link else None

    async with floor_session() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return Tally(len(rows), pages)


async def floor_paubox(origin: URL, targets: Sequence[Any], concurrency: int) -> Tally:
    """The floor for Paubox: one body per send, rows kept as tuples."""
    pending = iter(targets)
    rows: list[tuple[Any, ...]] = []
    pages = 0
    base = origin / "v1/orca" / PAUBOX.username / "tracking_links"

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal pages
        for target in pending:
            url = base.with_query(campaign_mailing_send_id=target.send_id)
            async with session.get(url, headers=PAUBOX_HEADERS) as response:
                payload = orjson.loads(await response.read())
            pages += 1
            rows.extend(
                [
                    (link.get("id"), a.get("target_url"), a.get("clicked"),
                     a.get("campaign_mailing_delivery_id"), a.get("opened_at"))
                    for link in payload["data"]
                    for a in (link.get("attributes") or {},)
                ]
            )  # fmt: skip

    async with floor_session() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return Tally(len(rows), pages)


async def httpx_loop(origin: URL, targets: Sequence[Any], concurrency: int) -> Tally:
    """The SendGrid floor's loop on httpx.AsyncClient."""
    pending = iter(targets)
    rows: list[tuple[Any, ...]] = []
    pages = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal pages
        for target in pending:
            url: str | None = str(first_page(origin, target))
            while url is not None:
                response = await client.get(url, headers=SENDGRID_HEADERS)
                payload = orjson.loads(response.content)
                pages += 1
                rows.extend(
                    [
                        (row["url"], row["clicks"], row.get("step_id"), row.get("url_location"))
                        for row in payload["results"]
                    ]
                )
                url = payload["_metadata"].get("next")

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return Tally(len(rows), pages)


async def official_sendgrid(origin: URL, targets: Sequence[Any], concurrency: int) -> Tally:
    """What users do today: SendGrid's own client, synchronous, one page after another.

    It does not follow ``_metadata.next`` itself, so the loop reads the page token out of
    it; ``concurrency`` does not apply.
    """
    client = SendGridAPIClient(api_key=SENDGRID_KEY, host=str(origin))
    rows: list[tuple[Any, ...]] = []
    pages = 0
    for target in targets:
        query: dict[str, Any] = {"page_size": target.page_size}
        if target.group_by_step:
            query["group_by"] = "step_id"
        while True:
            links = client.client.marketing.stats.automations._(target.automation_id).links
            payload = orjson.loads(links.get(query_params=query).body)
            pages += 1
            rows.extend(
                (row["url"], row["clicks"], row.get("step_id"), row.get("url_location"))
                for row in payload["results"]
            )
            link = payload["_metadata"].get("next")
            if not link:
                break
            query["page_token"] = URL(link, encoded=True).query["page_token"]
    return Tally(len(rows), pages)


FLOOR = "floor"


def contenders(workload: Workload, *, today: bool = False) -> dict[str, Contender]:
    """The floor and linkstats for ``workload``; with ``today``, what users run today too."""
    floor = floor_paubox if workload.provider == "paubox" else floor_sendgrid
    chosen: dict[str, Contender] = {
        FLOOR: floor,
        "linkstats collect": linkstats_collect(workload),
        "linkstats clicks": linkstats_clicks(workload),
    }
    if today:
        chosen |= {"httpx loop": httpx_loop, "official sendgrid": official_sendgrid}
    return chosen


def main() -> None:
    workload = WORKLOADS[sys.argv[1]]
    contender = contenders(workload, today=True)[sys.argv[2]]
    origin, count = URL(sys.argv[3]), int(sys.argv[4])
    tally = asyncio.run(contender(origin, workload.targets(count), 32))
    print(orjson.dumps(attrs.asdict(tally)).decode())


if __name__ == "__main__":
    main()
