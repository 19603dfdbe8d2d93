"""Reports on fetched clicks: totals by any grouping, URL normalization, plain rows, writers.

Everything here works on plain iterables of ``LinkClick`` and needs nothing beyond the
library's own dependencies::

    report = Totals(by=("url",), normalize=normalize_url)
    report.add(result.clicks)
    with open("clicks.csv", "w", newline="") as file, CsvWriter(file, report.columns) as out:
        out.write_all(report.rows())
"""

from __future__ import annotations

import abc
import csv
import enum
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, Self
from urllib.parse import unquote

import attrs
import msgspec
import orjson
from yarl import URL

from ._models import LinkClick

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = [
    "GROUPINGS",
    "RECORD_FIELDS",
    "RECORD_SCHEMA",
    "TRACKING_PARAMETERS",
    "Countable",
    "CsvWriter",
    "JsonLinesWriter",
    "JsonWriter",
    "Totals",
    "normalize_url",
    "to_dict",
    "to_pandas",
    "to_polars",
    "totals",
]

RECORD_FIELDS: Final = LinkClick.__struct_fields__
"""The columns of a record, in order: what ``to_dict`` returns."""

RECORD_SCHEMA: Final[Mapping[str, str]] = MappingProxyType(
    {
        "provider": "string",
        "source_id": "string",
        "url": "string",
        "clicks": "integer",
        "link_id": "string or null",
        "delivery_id": "string or null",
        "opened_at": "timestamp, UTC, or null",
        "step_id": "string or null",
        "url_location": "integer or null",
        "ab_variation": "string or null",
        "ab_phase": "string or null",
    }
)
"""Each column's type, as ``to_pandas`` and ``to_polars`` give it whatever the rows hold."""

GROUPINGS: Final = {
    "url": "url",
    "source": "source_id",
    "provider": "provider",
    "step": "step_id",
    "ab_variation": "ab_variation",
    "ab_phase": "ab_phase",
}
"""What clicks can be totalled by, and the column each grouping becomes."""

TRACKING_PARAMETERS: Final = frozenset(
    {
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "dclid",
        "fbclid",
        "gbraid",
        "gclid",
        "gclsrc",
        "igshid",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "msclkid",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "sc_cid",
        "ttclid",
        "twclid",
        "vero_conv",
        "vero_id",
        "wbraid",
        "wickedid",
        "yclid",
    }
)
"""Query parameters that only identify a click or campaign; any ``utm_*`` counts too."""


def normalize_url(
    url: URL,
    *,
    lowercase_host: bool = True,
    drop_fragment: bool = True,
    drop_tracking: bool = True,
) -> URL:
    """The same link, spelled so that copies differing only in noise group together.

    The host is lower-cased, the fragment dropped, and tracking parameters (``utm_*`` and
    ``TRACKING_PARAMETERS``) removed; the path, the other parameters and their order, and
    ``{{templates}}`` are kept as they were. A default port (``:443`` on https) is always
    left out, as yarl spells every URL. URLs without a host (``mailto:``, ``tel:``) only
    lose their fragment.
    """
    host = url.raw_host
    fragment = "" if drop_fragment else url.raw_fragment
    if host is None:
        return url.with_fragment(None) if drop_fragment and url.raw_fragment else url
    query = url.raw_query_string
    if drop_tracking and query:
        query = "&".join(part for part in query.split("&") if not _is_tracking(part))
    return URL.build(
        scheme=url.scheme,
        user=url.raw_user,
        password=url.raw_password,
        host=host.lower() if lowercase_host else host,
        port=url.explicit_port,
        path=url.raw_path,
        query_string=query,
        fragment=fragment,
        encoded=True,
    )


def _is_tracking(parameter: str) -> bool:
    name = unquote(parameter.partition("=")[0]).lower()
    return name.startswith("utm_") or name in TRACKING_PARAMETERS


def to_dict(click: LinkClick) -> dict[str, Any]:
    """A record as plain values (``url`` the provider's text, ``provider`` its name), for
    pandas or polars."""
    row: dict[str, Any] = msgspec.structs.asdict(click)
    row["provider"] = str(click.provider)
    return row


def to_pandas(clicks: Iterable[LinkClick]) -> pandas.DataFrame:
    """Records as a pandas DataFrame of ``RECORD_SCHEMA``'s types: strings as ``string``,
    ``url_location`` a nullable ``Int64``, ``opened_at`` UTC datetimes
    (``pip install 'linkstats[dataframes]'``)."""
    import pandas as pd

    frame = pd.DataFrame([to_dict(click) for click in clicks], columns=list(RECORD_FIELDS))
    strings = {name: "string" for name, kind in RECORD_SCHEMA.items() if "string" in kind}
    frame = frame.astype({**strings, "clicks": "int64", "url_location": "Int64"})
    frame["opened_at"] = pd.to_datetime(frame["opened_at"], utc=True)
    return frame


def to_polars(clicks: Iterable[LinkClick]) -> polars.DataFrame:
    """Records as a polars DataFrame of ``RECORD_SCHEMA``'s types, the schema given rather
    than inferred from the first rows (``pip install 'linkstats[dataframes]'``)."""
    import polars as pl

    schema: dict[str, Any] = {
        name: pl.String for name, kind in RECORD_SCHEMA.items() if "string" in kind
    }
    schema |= {
        "clicks": pl.Int64,
        "opened_at": pl.Datetime("us", "UTC"),
        "url_location": pl.Int64,
    }
    ordered = {name: schema[name] for name in RECORD_FIELDS}
    return pl.DataFrame([to_dict(click) for click in clicks], schema=ordered, orient="row")


class Countable(Protocol):
    """What ``Totals`` reads of a row: a ``LinkClick``, or a ``history.Change`` (whose
    ``clicks`` are the clicks gained)."""

    @property
    def provider(self) -> str: ...
    @property
    def source_id(self) -> str: ...
    @property
    def url(self) -> URL: ...
    @property
    def url_text(self) -> str: ...
    @property
    def clicks(self) -> int: ...
    @property
    def step_id(self) -> str | None: ...
    @property
    def ab_variation(self) -> str | None: ...
    @property
    def ab_phase(self) -> str | None: ...


@attrs.define
class _Group:
    clicks: int = 0
    records: int = 0


class Totals:
    """Clicks summed by any combination of ``GROUPINGS``, fed records as they arrive.

    Memory grows with the number of groups, not of records. ``normalize`` (for example
    ``normalize_url``) is applied to URLs before grouping by ``url``.
    """

    def __init__(
        self,
        by: Sequence[str] = ("url",),
        *,
        normalize: Callable[[URL], URL] | None = None,
    ) -> None:
        unknown = [name for name in by if name not in GROUPINGS]
        if unknown or not by:
            choices = ", ".join(GROUPINGS)
            raise ValueError(f"group by one or more of {choices}, got {list(by)!r}")
        self.by = tuple(dict.fromkeys(by))
        self.columns = (*(GROUPINGS[name] for name in self.by), "clicks", "records")
        self._normalize = normalize
        self._groups: dict[tuple[Any, ...], _Group] = {}

    def add(self, clicks: Iterable[Countable]) -> None:
        """Count these records in."""
        key_of = self._key_function()
        groups = self._groups
        for click in clicks:
            key = key_of(click)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
            group.clicks += click.clicks
            group.records += 1

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per group, most clicks first, ties in a stable order."""
        ordered = sorted(
            self._groups.items(),
            key=lambda item: (-item[1].clicks, tuple("" if v is None else v for v in item[0])),
        )
        names = self.columns[:-2]
        return [
            {**dict(zip(names, key, strict=True)), "clicks": group.clicks, "records": group.records}
            for key, group in ordered
        ]

    def _key_function(self) -> Callable[[Countable], tuple[Any, ...]]:
        parts = [self._part(name) for name in self.by]
        return lambda click: tuple(part(click) for part in parts)

    def _part(self, grouping: str) -> Callable[[Countable], Any]:
        normalize = self._normalize
        if grouping == "url":
            if normalize is not None:

                def normalized(click: Countable) -> str:
                    try:
                        return str(normalize(click.url))
                    except ValueError:
                        # A text yarl cannot read is grouped as it was sent.
                        return click.url_text

                return normalized
            # The provider's text, as records and every output format spell it.
            return operator.attrgetter("url_text")
        if grouping == "provider":
            return lambda click: str(click.provider)
        return operator.attrgetter(GROUPINGS[grouping])


def totals(
    clicks: Iterable[Countable],
    by: Sequence[str] = ("url",),
    *,
    normalize: Callable[[URL], URL] | None = None,
) -> list[dict[str, Any]]:
    """Clicks summed per group, most first: ``Totals`` for records already in hand."""
    report = Totals(by, normalize=normalize)
    report.add(clicks)
    return report.rows()


def _plain(value: Any) -> Any:
    """orjson's fallback for values it does not know: URLs and anything else as text."""
    return str(value)


class _Writer(abc.ABC):
    """Base of the streaming writers: rows in, text out, as they come."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    @abc.abstractmethod
    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row."""

    def write_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        """Finish the document and flush it; the file itself stays open."""
        self._file.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()


class CsvWriter(_Writer):
    """CSV with a header row; timestamps in ISO 8601, ``None`` as an empty cell."""

    def __init__(self, file: IO[str], columns: Sequence[str]) -> None:
        super().__init__(file)
        self._writer = csv.DictWriter(file, fieldnames=list(columns), extrasaction="ignore")
        self._writer.writeheader()

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({key: _csv_value(value) for key, value in row.items()})


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum | URL):
        return str(value)
    return value


class JsonLinesWriter(_Writer):
    """One JSON object per line."""

    def write(self, row: Mapping[str, Any]) -> None:
        self._file.write(orjson.dumps(row, default=_plain).decode())
        self._file.write("\n")


class JsonWriter(_Writer):
    """One JSON array, written element by element."""

    def __init__(self, file: IO[str]) -> None:
        super().__init__(file)
        self._separator = "[\n"

    def write(self, row: Mapping[str, Any]) -> None:
        self._file.write(self._separator)
        self._file.write(orjson.dumps(row, default=_plain).decode())
        self._separator = ",\n"

    def close(self) -> None:
        self._file.write("[]\n" if self._separator == "[\n" else "\n]\n")
        super().close()
