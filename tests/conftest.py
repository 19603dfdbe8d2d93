"""Shared helpers: sources pointed at the simulator, and the records it should yield.

The expected records are computed from the simulator's data functions with a mapping written
here, independently of the library's own, straight from the contract of ``LinkClick``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from yarl import URL

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


def paubox_source(simulator: Simulator, **options: Any) -> PauboxSource:
    """A Paubox source for the simulator, backing off without waiting unless told otherwise."""
    options.setdefault("backoff", 0)
    return PauboxSource(
        username=simulator.config.paubox_username,
        api_key=simulator.config.paubox_api_key,
        base_url=simulator.paubox_base_url,
        **options,
    )


def sendgrid_source(simulator: Simulator, **options: Any) -> SendGridSource:
    """A SendGrid source for the simulator, backing off without waiting unless told otherwise."""
    options.setdefault("backoff", 0)
    return SendGridSource(
        api_key=simulator.config.sendgrid_api_key,
        base_url=simulator.sendgrid_base_url,
        **options,
    )


def expected_url(text: str | None) -> URL:
    """The contract: the provider's text verbatim, a non-ASCII host IDNA-encoded."""
    if not text:
        return URL()
    url = URL(text, encoded=True)
    host = url.raw_host
    return url.with_host(host) if host and not host.isascii() else url


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
