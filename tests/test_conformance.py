"""The simulator's default answers against the providers' official response schemas.

The schemas in ``tests/schemas/`` are transcribed verbatim from the providers' OpenAPI files.
Two deviations are documented by the providers themselves and allowed here, nothing else:
templated URLs (``{{first_name}}``) where ``format: uri`` is asked, and ``"all"`` where
``format: uuid`` is asked (SendGrid's ungrouped ``step_id``, unsplit ``ab_variation``).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from conftest import uuid_for
from yarl import URL

from linkstats.testing import (
    Behavior,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    sendgrid_automation_ids,
    sendgrid_single_send_ids,
)

SCHEMAS = Path(__file__).parent / "schemas"
MISSING = uuid_for(404, kind=9)
CONFIG = SimulatorConfig(
    sendgrid=SendGridConfig(
        rate_limit=RateLimit(limit=2000, window=1.0), steps_per_automation=(1, 3)
    ),
    behaviors={MISSING: Behavior.NOT_FOUND},
)
SENDGRID = {"Authorization": f"Bearer {CONFIG.sendgrid.api_key}"}
PAUBOX = {"authorization": f"Token token={CONFIG.paubox.api_key}"}
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!-~]+")
_TEMPLATE = re.compile(r"\{\{[A-Za-z0-9_]+\}\}")


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema says it; everything else as it is."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _as_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        converted["type"] = [node["type"], "null"]
    return converted


def _formats() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uri")
    def uri(value: object) -> bool:
        # Documented deviation: templates stand in URLs verbatim.
        return isinstance(value, str) and bool(_URI.fullmatch(_TEMPLATE.sub("x", value)))

    @checker.checks("uuid")
    def is_uuid(value: object) -> bool:
        # Documented deviation: "all" where no step or split is asked for.
        if value == "all":
            return True
        try:
            return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
        except ValueError:
            return False

    @checker.checks("date-time")
    def date_time(value: object) -> bool:
        try:
            return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False

    return checker


FORMATS = _formats()


def validator(document: str, schema: str) -> jsonschema.Draft7Validator:
    """A validator for one named schema of one transcribed document."""
    components = _as_json_schema(json.loads((SCHEMAS / document).read_text())["components"])
    root = {"components": components, "$ref": f"#/components/schemas/{schema}"}
    return jsonschema.Draft7Validator(root, format_checker=FORMATS)


@pytest.fixture(scope="module")
def answers() -> list[tuple[str, str, int, Any]]:
    """Every kind of default answer: (request, schema document, status, body)."""
    return asyncio.run(_collect())


async def _collect() -> list[tuple[str, str, int, Any]]:
    found: list[tuple[str, str, int, Any]] = []
    async with Simulator(CONFIG) as sim, aiohttp.ClientSession() as session:

        async def get(url: URL, headers: dict[str, str], kind: str) -> Any:
            async with session.get(url, headers=headers) as response:
                body = await response.json(content_type=None)
                found.append((str(url.relative()), kind, response.status, body))
                return body

        async def pages(url: URL, kind: str) -> AsyncIterator[Any]:
            next_url: URL | None = url
            while next_url is not None:
                body = await get(next_url, SENDGRID, kind)
                yield body
                link = body.get("_metadata", {}).get("next")
                next_url = URL(link) if link else None

        stats = sim.sendgrid_base_url / "v3/marketing/stats"
        for automation_id in sendgrid_automation_ids(CONFIG)[:8]:
            links = stats / "automations" / automation_id / "links"
            for query in ({"page_size": "3"}, {"group_by": "step_id", "page_size": "4"}, {}):
                async for _ in pages(links.with_query(query), "sendgrid links"):
                    pass
        for single_send_id in sendgrid_single_send_ids(CONFIG)[:8]:
            links = stats / "singlesends" / single_send_id / "links"
            for query in ({}, {"group_by": "ab_variation"}, {"group_by": "ab_phase"}):
                async for _ in pages(links.with_query(query), "sendgrid single send links"):
                    pass
        listings = (
            ("automations", "sendgrid automations"),
            ("singlesends", "sendgrid single sends"),
        )
        for listing, kind in listings:
            async for _ in pages((stats / listing).with_query(page_size="7"), kind):
                pass
        await get(stats / "automations" / MISSING / "links", SENDGRID, "sendgrid error")
        await get((stats / "automations").with_query(page_size="0"), SENDGRID, "sendgrid error")
        await get(stats / "automations", {}, "sendgrid error")

        account = sim.paubox_base_url / CONFIG.paubox.username
        for send_id in paubox_send_ids(CONFIG)[:10]:
            for order_by in ("created_at", "opened_at", "clicked", "target_url"):
                query = {"campaign_mailing_send_id": send_id, "order_by": order_by, "order": "asc"}
                await get((account / "tracking_links").with_query(query), PAUBOX, "paubox links")
        await get(account / "tracking_links", PAUBOX, "paubox error")
        missing = {"campaign_mailing_send_id": MISSING}
        await get((account / "tracking_links").with_query(missing), PAUBOX, "paubox error")
        await get((account / "tracking_links").with_query(missing), {}, "paubox error")
    return found


SCHEMA_OF = {
    "sendgrid links": ("sendgrid-mc-stats.json", "AutmoationsLinkStatsResponse"),
    "sendgrid single send links": ("sendgrid-mc-stats.json", "SinglesendsLinkStatsResponse"),
    "sendgrid automations": ("sendgrid-mc-stats.json", "AutomationsResponse"),
    "sendgrid single sends": ("sendgrid-mc-stats.json", "SinglesendsResponse"),
    "sendgrid error": ("sendgrid-mc-stats.json", "ErrorResponse"),
    "paubox links": ("paubox-marketing.json", "TrackingLinksDetailResponse"),
    "paubox error": ("paubox-marketing.json", "Error"),
}


@pytest.mark.parametrize("kind", sorted(SCHEMA_OF))
def test_every_default_answer_matches_the_official_schema(
    answers: list[tuple[str, str, int, Any]], kind: str
) -> None:
    """No violation outside the two the providers document (templates, "all")."""
    check = validator(*SCHEMA_OF[kind])
    served = [(request, status, body) for request, what, status, body in answers if what == kind]

    violations = [
        f"{request} ({status}): {error.json_path}: {error.message}"
        for request, status, body in served
        for error in check.iter_errors(body)
    ]

    assert len(served) >= 3
    assert violations == []


def test_the_checks_can_fail() -> None:
    """A null attribute, a raw non-ASCII URL and a missing step id are each caught."""
    paubox = validator("paubox-marketing.json", "TrackingLinksDetailResponse")
    sendgrid = validator("sendgrid-mc-stats.json", "AutmoationsLinkStatsResponse")

    assert not paubox.is_valid({"data": [{"attributes": {"opened_at": None}}]})
    assert not paubox.is_valid({"data": [{"attributes": {"clicked": "3"}}]})

    def page(**row: Any) -> dict[str, Any]:
        return {"results": [row], "total_clicks": 1, "_metadata": {}}

    assert not sendgrid.is_valid(page(url="https://例え.jp/ページ", step_id="all", clicks=1))
    assert not sendgrid.is_valid(page(url="https://example.com/", clicks=1))
    assert not sendgrid.is_valid(page(url="https://example.com/", step_id="step-1", clicks=1))
    assert sendgrid.is_valid(page(url="https://e.com/?n={{first_name}}", step_id="all", clicks=1))
