"""Checks on what users construct, so bad input fails before anything is sent."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def canonical_uuid(value: str | uuid.UUID) -> str:
    """The id as a string, if it is a UUID in the canonical 36-character form."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {type(value).__name__}: {value!r}")
    if not _CANONICAL_UUID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a UUID in the canonical form "
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (36 characters)"
        )
    return value


def canonical_uuids(values: Iterable[str | uuid.UUID]) -> tuple[str, ...]:
    """Several ids, each checked, duplicates dropped, order kept."""
    if isinstance(values, str | bytes):
        raise TypeError("expected a sequence of UUID strings, not a single string")
    return tuple(dict.fromkeys(canonical_uuid(value) for value in values))


def positive_number_or_none(name: str, value: Any) -> None:
    """A duration in seconds, where ``None`` means no limit."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")


def integer_in_range(name: str, value: Any, low: int, high: int) -> None:
    """An ``int`` (not a bool) between ``low`` and ``high`` inclusive."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def non_empty_string(name: str, value: Any) -> None:
    """A non-empty ``str`` without whitespace or control characters: it goes into a header."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value or any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError(f"{name} must be a non-empty string without spaces or control characters")
