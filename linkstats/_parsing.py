"""Decoding shared by the provider modules: strict scalars, URLs, timestamps.

The wire shapes themselves live with their provider; this module only supplies the checks
every provider wants the same way.
"""

from __future__ import annotations

import functools
import reprlib
from datetime import UTC, datetime
from typing import Any

from yarl import URL

# Wrong values are quoted in error messages; a whole misplaced array would drown the message.
_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxother = 80
_short_repr.maxlist = _short_repr.maxdict = 3
_brief = _short_repr.repr


def not_an_object(value: Any) -> TypeError:
    """The error for a value that should have been a JSON object."""
    return TypeError(f"expected a JSON object, got {type(value).__name__}")


def optional_string(value: Any) -> str | None:
    """A string or null, never coerced."""
    if value is not None and type(value) is not str:
        raise TypeError(f"expected a string or null, got {_brief(value)}")
    return value


def optional_count(value: Any) -> int | None:
    """A count of at least 0, or null, never coerced: no link has fewer than no clicks."""
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a count of at least 0, got {_brief(value)}")
    return value


def timestamp(value: Any) -> datetime | None:
    """Any ISO-8601 form (``Z``, offsets, any fraction); a bare time is taken as UTC."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise TypeError(f"expected an ISO-8601 timestamp, got {_brief(value)}")
    text = value[:-4] + "+00:00" if value.endswith(" UTC") else value
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=8192)
def read_url(text: str | None) -> URL:
    """The provider's URL text as a ``yarl.URL``, kept verbatim (``encoded=True``).

    Only a non-ASCII host is IDNA-encoded, so that ``url.host`` works; ``human_repr()``
    still shows it as sent. The same links recur across rows, pages and campaigns, hence
    the cache.
    """
    if not text:
        return URL()
    url = URL(text, encoded=True)
    host = url.raw_host
    return url.with_host(host) if host is not None and not host.isascii() else url
