"""Shared helpers: sources pointed at the simulator, and the records it should yield.

The expected records are computed from the simulator's data functions with a mapping written
here, independently of the library's own, straight from the contract of ``LinkClick``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from linkstats import (
    LinkClick,
    PauboxSend,
    PauboxSource,
    Provider,
    SendGridAutomation,
    SendGridSource,
)
from linkstats.testing import (
    Simulator,
    SimulatorConfig,
    paubox_tracking_links,
    sendgrid_automation_links,
)


def uuid_for(number: int, *, kind: int = 0) -> str:
    """A canonical UUID that is easy to tell apart in a failure message."""
    return str(uuid.UUID(int=(kind << 64) | number))


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client with aiohttp's defaults: no retries or checks of our own."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def paubox_source(simulator: Simulator, **options: Any) -> PauboxSource:
    """A Paubox source for the simulator, backing off without waiting unless told otherwise."""
    options.setdefault("backoff", 0)
    return PauboxSource(
        username=simulator.config.paubox.username,
        api_key=simulator.config.paubox.api_key,
        base_url=simulator.paubox_base_url,
        **options,
    )


def sendgrid_source(simulator: Simulator, **options: Any) -> SendGridSource:
    """A SendGrid source for the simulator, backing off without waiting unless told otherwise."""
    options.setdefault("backoff", 0)
    return SendGridSource(
        api_key=simulator.config.sendgrid.api_key,
        base_url=simulator.sendgrid_base_url,
        **options,
    )


def expected_url(text: str | None) -> str:
    """The contract: a record holds the provider's URL text verbatim, none as ``""``."""
    return text or ""


def expected_timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expected_paubox(config: SimulatorConfig, target: PauboxSend) -> list[LinkClick]:
    rows = paubox_tracking_links(
        config, target.send_id, order_by=target.order_by, order=target.order
    )
    records = []
    for row in rows:
        attributes = row.get("attributes") or {}
        records.append(
            LinkClick(
                provider=Provider.PAUBOX,
                source_id=target.send_id,
                url=expected_url(attributes.get("target_url")),
                clicks=attributes.get("clicked") or 0,
                link_id=row.get("id"),
                delivery_id=attributes.get("campaign_mailing_delivery_id"),
                opened_at=expected_timestamp(attributes.get("opened_at")),
            )
        )
    return records


def expected_sendgrid(config: SimulatorConfig, target: SendGridAutomation) -> list[LinkClick]:
    rows = sendgrid_automation_links(
        config,
        target.automation_id,
        step_ids=target.step_ids,
        group_by_step=target.group_by_step,
    )
    return [
        LinkClick(
            provider=Provider.SENDGRID,
            source_id=target.automation_id,
            url=expected_url(row["url"]),
            clicks=row["clicks"],
            step_id=row.get("step_id"),
            url_location=row.get("url_location"),
        )
        for row in rows
    ]


def expected(config: SimulatorConfig, target: object) -> list[LinkClick]:
    if isinstance(target, PauboxSend):
        return expected_paubox(config, target)
    assert isinstance(target, SendGridAutomation)
    return expected_sendgrid(config, target)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a free loopback port for the length of the block; yields its origin."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def without_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment less every provider's keys, usernames and base URLs, for a child."""
    return {
        key: value
        for key, value in environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL", "_USERNAME"))
    }


def places_holding(secret: str, root: object) -> Iterator[str]:
    """Where ``secret`` appears in anything reachable from ``root``, as an error reporter walks
    it: causes, contexts, arguments, attributes, containers and every repr, recursively."""
    seen: set[int] = set()
    pending: list[tuple[str, object]] = [("error", root)]
    while pending:
        path, item = pending.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, str):
            if secret in item:
                yield path
            continue
        if isinstance(item, bytes):
            if secret.encode() in item:
                yield path
            continue
        if isinstance(item, int | float | bool):
            continue
        try:
            text = repr(item)
        except Exception:
            text = ""
        if secret in text:
            yield f"{path} (repr)"
        children: list[tuple[str, object]] = []
        if isinstance(item, BaseException):
            children += [("__cause__", item.__cause__), ("__context__", item.__context__)]
            children += [(f"args[{n}]", arg) for n, arg in enumerate(item.args)]
        if isinstance(item, dict):
            children += [(f"[{key!r}]", value) for key, value in item.items()]
            children += [("key", key) for key in item]
        elif isinstance(item, list | tuple | set | frozenset):
            children += [(f"[{n}]", value) for n, value in enumerate(item)]
        for name in getattr(item, "__dict__", {}) or {}:
            children.append((f".{name}", getattr(item, name, None)))
        for name in getattr(type(item), "__slots__", ()) or ():
            children.append((f".{name}", getattr(item, name, None)))
        pending += [(f"{path}{step}", child) for step, child in children]
