"""A provider written against linkstats's public contract alone, as another package would.

It follows ADDING_PROVIDERS.md and is modelled on Mailchimp's Marketing API: link clicks from
``GET /3.0/reports/{campaign_id}/click-details`` and campaigns from ``GET /3.0/campaigns``,
both paged by ``offset`` and ``count`` against ``total_items``; errors as problem documents
(``{"type", "title", "status", "detail", "instance"}``); campaign ids of ten hex digits, not
UUIDs; HTTP Basic auth with the key as password; at most ten connections at once per key.
Tests register it through a ``linkstats.providers`` entry point.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncGenerator, Mapping
from operator import attrgetter
from typing import Any, Final, Unpack

import attrs
import orjson
from yarl import URL

from linkstats import (
    Campaign,
    ErrorDetails,
    HTTPSource,
    LinkClick,
    Listing,
    Page,
    PageRequest,
    ProviderInfo,
    ProviderMessage,
    Response,
    SourceOptions,
    TargetKind,
)

NAME: Final = "mailchimp"
DEFAULT_BASE_URL = "https://us1.api.mailchimp.com/3.0"
MAX_CONNECTIONS = 10
MAX_COUNT = 1000

_CAMPAIGN_ID = re.compile(r"[0-9a-f]{10}")


def _campaign_id(_: object, __: object, value: Any) -> None:
    if not isinstance(value, str) or not _CAMPAIGN_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Mailchimp campaign id (ten hex digits)")


def _count(_: object, __: object, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise ValueError(f"count must be an int from 1 to {MAX_COUNT}, got {value!r}")


@attrs.frozen
class MailchimpCampaign:
    """One sent campaign, by id; ``count`` is how many links each page asks for."""

    campaign_id: str = attrs.field(validator=_campaign_id)
    count: int = attrs.field(default=100, kw_only=True, validator=_count)


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _next_offset(
    response: Response, payload: dict[str, Any], rows: list[Any]
) -> PageRequest | None:
    """The request for the rows after these, or None once ``total_items`` are all read."""
    offset = int(response.request.url.query.get("offset", "0")) + len(rows)
    total = payload["total_items"]
    if not isinstance(total, int) or isinstance(total, bool):
        raise TypeError(f"total_items must be an integer, got {total!r}")
    return response.request.with_query(offset=offset) if rows and offset < total else None


def _object(body: bytes) -> dict[str, Any]:
    payload = orjson.loads(body)
    if not isinstance(payload, dict):
        raise TypeError("expected a JSON object")
    return payload


class MailchimpSource(HTTPSource[MailchimpCampaign]):
    """Link clicks of Mailchimp campaigns, and the account's sent campaigns."""

    provider = NAME
    target_types = (MailchimpCampaign,)

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | URL | None = None,
        **options: Unpack[SourceOptions],
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        # A key ends in its data centre ("...-us6"), which names the API's host.
        _, _, centre = api_key.rpartition("-")
        super().__init__(
            base_url=base_url or f"https://{centre or 'us1'}.api.mailchimp.com/3.0",
            headers={"Authorization": f"Basic {_basic('linkstats', api_key)}"},
            secrets=(api_key,),
            **options,
            max_connections=MAX_CONNECTIONS,
        )

    def first_request(self, target: MailchimpCampaign) -> PageRequest:
        url = self.base_url / "reports" / target.campaign_id / "click-details"
        return PageRequest(url.with_query(count=target.count, offset=0))

    def parse_page(self, target: MailchimpCampaign, response: Response) -> Page[LinkClick]:
        payload = _object(response.body)
        rows = payload["urls_clicked"]
        clicks = [
            LinkClick(
                provider=NAME,
                source_id=target.campaign_id,
                url=row["url"],
                clicks=row["total_clicks"],
                link_id=row["id"],
            )
            for row in rows
        ]
        return Page(clicks, _next_offset(response, payload, rows))

    def parse_error(self, response: Response) -> ErrorDetails:
        try:
            problem = _object(response.body)
        except (ValueError, TypeError):
            return super().parse_error(response)
        if not isinstance(problem.get("title"), str):
            return super().parse_error(response)
        messages = [ProviderMessage(problem["title"])]
        if isinstance(problem.get("detail"), str) and problem["detail"]:
            messages.append(ProviderMessage(problem["detail"]))
        messages += [
            ProviderMessage(item["message"], item.get("field") or None)
            for item in problem.get("errors") or ()
            if isinstance(item, dict) and isinstance(item.get("message"), str)
        ]
        instance = problem.get("instance")
        return ErrorDetails(tuple(messages), instance if isinstance(instance, str) else None)

    async def discover(self) -> AsyncGenerator[Campaign[MailchimpCampaign], None]:
        """Every sent campaign of the account."""
        url = (self.base_url / "campaigns").with_query(status="sent", count=MAX_COUNT, offset=0)
        pages = self.paginate(PageRequest(url), _campaigns, subject=Listing(NAME, "campaigns"))
        async for page in pages:
            for campaign in page:
                yield campaign


def _campaigns(response: Response) -> Page[Campaign[MailchimpCampaign]]:
    payload = _object(response.body)
    rows = payload["campaigns"]
    campaigns = [
        Campaign(NAME, MailchimpCampaign(row["id"]), name=row.get("settings", {}).get("title"))
        for row in rows
    ]
    return Page(campaigns, _next_offset(response, payload, rows))


def _from_environment(environ: Mapping[str, str], base_url: str | None) -> MailchimpSource | None:
    api_key = environ.get("MAILCHIMP_API_KEY") or None
    return None if api_key is None else MailchimpSource(api_key=api_key, base_url=base_url)


PROVIDER = ProviderInfo(
    name=NAME,
    title="Mailchimp",
    target_kinds=(
        TargetKind(
            name="campaign",
            target_type=MailchimpCampaign,
            from_id=MailchimpCampaign,
            id_of=attrgetter("campaign_id"),
            help="a Mailchimp campaign id",
        ),
    ),
    environment={"MAILCHIMP_API_KEY": "the API key, ending in its data centre (-us6)"},
    from_environment=_from_environment,
    default_base_url="https://<dc>.api.mailchimp.com/3.0",
    base_url_help="Mailchimp API base URL (the key's data centre names the default)",
)
