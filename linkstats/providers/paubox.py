"""Paubox Marketing: link clicks of campaign sends, and the list of sends.

Reference: Paubox Marketing API, "List tracking links" (OpenAPI 3.0.3,
``TrackingLinksDetailResponse``): ``GET /tracking_links`` gives one row per link per delivered
email, with no pagination (a large send is one large body). Nothing in the schema is required,
so every attribute may be missing or null; unknown fields are ignored. From Paubox's published
Marketing spec, ``GET /analytics/tracking_links_by_unique_link`` gives per-link totals and
``GET /analytics/campaign_mailing_sends_table`` lists sent campaigns. Auth is
``authorization: Token token=<key>``. The reference's base URL carries the account's username;
Paubox's newer base (``MARKETING_BASE_URL``) does not.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Mapping
from itertools import chain
from operator import attrgetter
from typing import Any, Final, Literal, Unpack

import attrs
import msgspec
import orjson
from yarl import URL

from .._errors import ErrorDetails, ProviderMessage
from .._http import PageRequest, Response, collect_messages, read_error_body
from .._models import Campaign, LinkClick, Listing
from .._parsing import not_an_object, optional_count, optional_string, timestamp
from .._registry import ProviderInfo, TargetKind, TargetOption
from .._source import HTTPSource, Page, SourceOptions
from .._validation import canonical_uuid, non_empty_string

__all__ = [
    "DEFAULT_BASE_URL",
    "MARKETING_BASE_URL",
    "NAME",
    "PROVIDER",
    "PauboxSend",
    "PauboxSource",
]

NAME: Final = "paubox"
DEFAULT_BASE_URL = "https://api.paubox.net/v1/orca"
MARKETING_BASE_URL = "https://api.paubox.com/v1/marketing"

_ORDERS = ("asc", "desc")


def _order_by(_: object, __: object, value: object) -> None:
    non_empty_string("order_by", value)


@attrs.frozen(cache_hash=True)
class PauboxSend:
    """One Paubox Marketing campaign send, by its ``campaign_mailing_send_id``.

    By default one record per link per delivered email; ``per_link_totals=True`` asks for one
    record per link of the email instead, its clicks summed over every delivery (``order_by``
    and ``order`` do not apply then).
    """

    send_id: str = attrs.field(converter=canonical_uuid)
    order_by: str = attrs.field(default="created_at", kw_only=True, validator=_order_by)
    order: Literal["asc", "desc"] = attrs.field(
        default="desc", kw_only=True, validator=attrs.validators.in_(_ORDERS)
    )
    per_link_totals: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )


# Tracking links are parsed straight from the decoded JSON into records, one construction per
# row, as a large send is one body of 60,000 rows. The wire shapes, from the OpenAPI file and
# Paubox's published Marketing spec (nothing is required; missing and null mean the same):
#
#   TrackingLinksDetailResponse: {"data": [TrackingLinksDetailResponse_data, ...]}
#   TrackingLinksDetailResponse_data:
#     {"id": str, "type": str, "attributes": {"target_url": str, "opened_at": ISO-8601 str,
#      "clicked": int >= 0, "campaign_mailing_delivery_id": str}}
#   tracking_links_by_unique_link: {"data": [{"html_id": str, "target_url": str,
#                                             "clicked": int >= 0}, ...]}
#
#   campaign_mailing_sends_table: {"data": [{"id": str, "marketing_email_id": str,
#     "campaign_mailing_id": str, "campaign_mailing_created_at": ISO-8601 str,
#     "sent_at": ISO-8601 str, "subscription_list_name": str}, ...]}
#
# Unknown fields are ignored. The sends table, one body per account, is decoded by msgspec
# into the fields used here (each a string or null, as the spec says); the others are skipped.

_NO_ATTRIBUTES: dict[str, Any] = {}


# A large body is decoded in slices of about this many bytes, cut between two rows.
_SLICE_BYTES = 1 << 20
_ROWS_START, _ROWS_END, _BETWEEN_ROWS = b'{"data":[', b"]}", b'},{"'


def _row_slices(body: bytes) -> Iterator[list[Any]]:
    """The body's ``data`` rows (none is no rows); a large body's a slice at a time.

    orjson holds the GIL while it decodes, so one 36 MB body would stall the event loop for
    a quarter of a second even from a worker thread; between slices the loop gets its turn,
    and each slice's dicts are gone before the next is decoded. A slice starts at ``{"``
    after ``},`` (which cannot occur inside a JSON string) and must decode on its own: a cut
    inside a nested array leaves a slice that does not, and the rest comes from the body
    decoded whole.
    """
    if len(body) <= _SLICE_BYTES or not (body.startswith(_ROWS_START) and body.endswith(_ROWS_END)):
        yield _rows_of(orjson.loads(body))
        return
    start, end, done = len(_ROWS_START), len(body) - len(_ROWS_END), 0
    while start < end:
        cut = body.find(_BETWEEN_ROWS, start + _SLICE_BYTES, end)
        stop = end if cut < 0 else cut + 1
        try:
            rows = orjson.loads(b"[" + body[start:stop] + b"]")
        except orjson.JSONDecodeError:
            yield _rows_of(orjson.loads(body))[done:]
            return
        done += len(rows)
        yield rows
        start = stop + 1


def _rows_of(payload: Any) -> list[Any]:
    if type(payload) is not dict:
        raise not_an_object(payload)
    data = payload.get("data")
    if data is None:
        return []
    if type(data) is not list:
        raise TypeError(f"expected a list of data, got {type(data).__name__}")
    return data


def _check_strings(*values: Any) -> None:
    """Raise the error that names a value the quick check refused."""
    for value in values:
        optional_string(value)


def to_clicks(send_id: str, body: bytes) -> list[LinkClick]:
    """Each tracking link of a body as a ``LinkClick``; a missing ``clicked`` counts as 0."""
    provider, record, when = NAME, LinkClick, timestamp
    clicks = []
    for link in chain.from_iterable(_row_slices(body)):
        if type(link) is not dict:
            raise not_an_object(link)
        link_id, kind, attributes = link.get("id"), link.get("type"), link.get("attributes")
        if attributes is None:
            attributes = _NO_ATTRIBUTES
        elif type(attributes) is not dict:
            raise not_an_object(attributes)
        target_url = attributes.get("target_url")
        delivery_id = attributes.get("campaign_mailing_delivery_id")
        clicked = attributes.get("clicked")
        opened_at = attributes.get("opened_at")
        if not (
            (link_id is None or type(link_id) is str)
            and (kind is None or type(kind) is str)
            and (target_url is None or type(target_url) is str)
            and (delivery_id is None or type(delivery_id) is str)
        ):
            _check_strings(link_id, kind, target_url, delivery_id)
        if type(clicked) is not int or clicked < 0:
            clicked = optional_count(clicked) or 0
        clicks.append(
            record(
                provider=provider,
                source_id=send_id,
                url=target_url or "",
                clicks=clicked,
                link_id=link_id,
                delivery_id=delivery_id,
                opened_at=when(opened_at) if opened_at is not None else None,
            )
        )
    return clicks


def unique_link_clicks(send_id: str, body: bytes) -> list[LinkClick]:
    """Each link's total as a ``LinkClick`` whose ``link_id`` is the link's ``html_id``."""
    provider, record = NAME, LinkClick
    clicks = []
    for link in chain.from_iterable(_row_slices(body)):
        if type(link) is not dict:
            raise not_an_object(link)
        html_id, target_url = link.get("html_id"), link.get("target_url")
        _check_strings(html_id, target_url)
        clicked = optional_count(link.get("clicked")) or 0
        clicks.append(
            record(
                provider=provider,
                source_id=send_id,
                url=target_url or "",
                clicks=clicked,
                link_id=html_id,
            )
        )
    return clicks


class _Send(msgspec.Struct, gc=False):
    """One row of ``campaign_mailing_sends_table``: a sent campaign."""

    id: str | None = None
    sent_at: str | None = None
    subscription_list_name: str | None = None


class _SendsTable(msgspec.Struct):
    data: list[_Send] | None = None


_decode_sends_table = msgspec.json.Decoder(_SendsTable).decode


def _sends_listing(response: Response) -> Page[Campaign[PauboxSend]]:
    rows = _decode_sends_table(response.body).data or ()
    # A row without an id names nothing that could be fetched.
    campaigns = [
        Campaign(
            NAME,
            PauboxSend(row.id),
            name=row.subscription_list_name,
            sent_at=timestamp(row.sent_at),
        )
        for row in rows
        if row.id is not None
    ]
    return Page(campaigns)


def parse_error_body(body: bytes) -> ErrorDetails:
    """Paubox's ``{"error", "code", "details"}``, where ``details`` is a string or maps each
    field to its messages; other Paubox endpoints' ``{"errors": ...}`` and anything else
    are read by the shared default."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or "error" not in payload:
        return read_error_body(body)
    messages: list[ProviderMessage] = []
    collect_messages(messages, payload.get("error"))
    collect_messages(messages, payload.get("details"))
    code = payload.get("code")
    return ErrorDetails(
        tuple(messages),
        code=str(code) if isinstance(code, int | str) and not isinstance(code, bool) else None,
    )


def username_required(base_url: str | URL) -> bool:
    """True for a base URL of the original API, which names the account in its path."""
    return URL(str(base_url)).path.rstrip("/").endswith("/orca")


class PauboxSource(HTTPSource[PauboxSend]):
    """Tracking links of Paubox Marketing campaign sends, and the list of sends.

    Requests go to ``{base_url}/{username}/tracking_links`` and ``.../analytics/...``, or,
    with ``username=None`` (Paubox's newer ``MARKETING_BASE_URL``), to
    ``{base_url}/tracking_links``. The key travels only in the ``authorization`` header of
    each request.
    """

    provider = NAME
    target_types = (PauboxSend,)

    def __init__(
        self,
        *,
        username: str | None,
        api_key: str,
        base_url: str | URL = DEFAULT_BASE_URL,
        **options: Unpack[SourceOptions],
    ) -> None:
        if username is not None:
            non_empty_string("username", username)
            if "/" in username:
                raise ValueError("username must not contain '/'")
        non_empty_string("api_key", api_key)
        super().__init__(
            base_url=base_url,
            headers={"authorization": f"Token token={api_key}", "accept": "application/json"},
            secrets=(api_key,),
            **options,
        )
        if username is None and username_required(self.base_url):
            raise ValueError(
                f"username is required for {str(self.base_url)!r}, which names the account in "
                f"its path; Paubox's newer {MARKETING_BASE_URL} does not"
            )
        self.username = username
        self._account = self.base_url / username if username else self.base_url
        self._tracking_links = self._account / "tracking_links"
        self._unique_links = self._account / "analytics/tracking_links_by_unique_link"

    def __repr__(self) -> str:
        return f"PauboxSource(username={self.username!r}, base_url={str(self.base_url)!r})"

    def first_request(self, target: PauboxSend) -> PageRequest:
        if target.per_link_totals:
            return PageRequest(
                self._unique_links.with_query(campaign_mailing_send_id=target.send_id)
            )
        return PageRequest(
            self._tracking_links.with_query(
                campaign_mailing_send_id=target.send_id,
                order_by=target.order_by,
                order=target.order,
            )
        )

    def parse_page(self, target: PauboxSend, response: Response) -> Page[LinkClick]:
        # Paubox does not paginate: a send's rows are one body.
        if target.per_link_totals:
            return Page(unique_link_clicks(target.send_id, response.body))
        return Page(to_clicks(target.send_id, response.body))

    def parse_error(self, response: Response) -> ErrorDetails:
        return parse_error_body(response.body)

    def sends(
        self,
        *,
        search: str | None = None,
        order_by: str | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> AsyncGenerator[Campaign[PauboxSend], None]:
        """The account's sent campaigns, optionally those whose list name matches ``search``.

        The options are checked now, before anything is sent.
        """
        if search is not None and not isinstance(search, str):
            raise TypeError(f"search must be a str, got {type(search).__name__}")
        if order_by is not None:
            non_empty_string("order_by", order_by)
        if order not in (None, *_ORDERS):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        query = {
            name: value
            for name, value in (("search", search), ("order_by", order_by), ("order", order))
            if value is not None
        }
        url = (self._account / "analytics/campaign_mailing_sends_table").with_query(query)
        return self._campaigns(PageRequest(url))

    async def _campaigns(self, request: PageRequest) -> AsyncGenerator[Campaign[PauboxSend], None]:
        listing = self.paginate(request, _sends_listing, subject=Listing(NAME, "campaign sends"))
        async for page in listing:
            for campaign in page:
                yield campaign

    def discover(self) -> AsyncGenerator[Campaign[PauboxSend], None]:
        """Every sent campaign of the account."""
        return self.sends()


def _from_environment(environ: Mapping[str, str], base_url: str | None) -> PauboxSource | None:
    api_key = environ.get("PAUBOX_API_KEY") or None
    username = environ.get("PAUBOX_USERNAME") or None
    if api_key is None and username is None:
        return None
    base_url = base_url or DEFAULT_BASE_URL
    if api_key is None:
        raise ValueError("set PAUBOX_API_KEY to fetch from Paubox")
    if username is None and username_required(base_url):
        raise ValueError(
            f"set PAUBOX_USERNAME: {base_url} names the account in its path "
            f"(Paubox's newer {MARKETING_BASE_URL} does not)"
        )
    return PauboxSource(username=username, api_key=api_key, base_url=base_url)


PROVIDER = ProviderInfo(
    name=NAME,
    title="Paubox Marketing",
    target_kinds=(
        TargetKind(
            name="send",
            target_type=PauboxSend,
            from_id=PauboxSend,
            id_of=attrgetter("send_id"),
            help="a Paubox campaign send id",
        ),
    ),
    environment={
        "PAUBOX_API_KEY": "the API key",
        "PAUBOX_USERNAME": f"the account's username (not needed with {MARKETING_BASE_URL})",
    },
    from_environment=_from_environment,
    default_base_url=DEFAULT_BASE_URL,
    base_url_help=f"Paubox API base URL (for the newer {MARKETING_BASE_URL}, "
    "PAUBOX_USERNAME is not needed)",
    target_options=(
        TargetOption(
            name="per-link-totals",
            help="one row per link of a Paubox send, not per link per delivered email",
            apply=lambda target: attrs.evolve(target, per_link_totals=True),
        ),
    ),
)
