"""Decoding shared by the provider modules: one cattrs set-up, strict scalars, URLs, timestamps.

The wire classes themselves live with their provider; this module only supplies the hooks
every provider wants the same way, built once at import.
"""

from __future__ import annotations

import functools
import reprlib
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from yarl import URL

T = TypeVar("T")

# Wrong values are quoted in error messages; a whole misplaced array would drown the message.
_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxother = 80
_short_repr.maxlist = _short_repr.maxdict = 3
_brief = _short_repr.repr


def make_converter() -> cattrs.Converter:
    """A converter that checks, never coerces, what the wire classes hold (strings or null,
    timestamps): a number is not a string."""
    converter = cattrs.Converter(detailed_validation=False)
    converter.register_structure_hook_factory(_is_optional_structure, _optional_factory(converter))
    converter.register_structure_hook(str | None, optional_string)
    converter.register_structure_hook(datetime | None, timestamp)
    return converter


def structurer(converter: cattrs.Converter, cls: type[T]) -> Callable[[bytes], T]:
    """Decode JSON bytes with orjson and structure them as ``cls``, with hooks built now."""
    hook = converter.get_structure_hook(cls)

    def structure(body: bytes) -> T:
        payload = orjson.loads(body)
        if not isinstance(payload, dict):
            raise TypeError(f"expected a JSON object, got {_brief(payload)}")
        return hook(payload, cls)  # type: ignore[no-any-return]

    return structure


def _is_optional_structure(type_: Any) -> bool:
    """``X | None`` where X is a wire class or a list of them."""
    arguments = typing.get_args(type_)
    return (
        typing.get_origin(type_) in (typing.Union, types.UnionType)
        and len(arguments) == 2
        and arguments[1] is type(None)
        and (attrs.has(arguments[0]) or typing.get_origin(arguments[0]) is list)
    )


def _optional_factory(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """``X | None`` hooks that call X's hook directly, instead of dispatching on every value."""

    def factory(type_: Any) -> Callable[[Any, Any], Any]:
        inner = typing.get_args(type_)[0]
        structure_inner = converter.get_structure_hook(inner)

        def structure(value: Any, _: Any) -> Any:
            return None if value is None else structure_inner(value, inner)

        return structure

    return factory


def not_an_object(value: Any) -> TypeError:
    """The error for a value that should have been a JSON object."""
    return TypeError(f"expected a JSON object, got {type(value).__name__}")


def optional_string(value: Any, _: Any = None) -> str | None:
    """A string or null, never coerced."""
    if value is not None and type(value) is not str:
        raise TypeError(f"expected a string or null, got {_brief(value)}")
    return value


def optional_count(value: Any, _: Any = None) -> int | None:
    """A count of at least 0, or null, never coerced: no link has fewer than no clicks."""
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a count of at least 0, got {_brief(value)}")
    return value


def timestamp(value: Any, _: Any = None) -> datetime | None:
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
