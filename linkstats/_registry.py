"""The providers this installation knows, each described by its own module.

A provider module exports one ``ProviderInfo`` and registers it under the ``linkstats.providers``
entry-point group (``[project.entry-points."linkstats.providers"]`` in its ``pyproject.toml``).
The command line, the demo and the simulator command learn every provider from here, the
built-in ones the same way as those of other packages.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

import attrs

from ._source import LinkStatsSource

__all__ = [
    "ENTRY_POINT_GROUP",
    "ProviderInfo",
    "TargetKind",
    "TargetOption",
    "registered_providers",
]

ENTRY_POINT_GROUP = "linkstats.providers"


@attrs.frozen(kw_only=True)
class TargetKind:
    """One kind of target a provider fetches, as people name it: ``send``, ``automation``.

    ``from_id`` makes a target from the id a person typed (raising ``ValueError`` or
    ``TypeError`` for a bad one); ``id_of`` gives a target's id back.
    """

    name: str
    target_type: type[Any]
    from_id: Callable[[str], Hashable]
    id_of: Callable[[Any], str]
    help: str


@attrs.frozen(kw_only=True)
class TargetOption:
    """A command-line switch that changes every target of its provider it applies to."""

    name: str
    help: str
    apply: Callable[[Any], Any]


@attrs.frozen(kw_only=True)
class ProviderInfo:
    """What the command line needs to know of a provider, and nothing it must guess.

    ``from_environment(environ, base_url)`` builds a source from environment variables (the
    ones ``environment`` names, with what each holds) and a base URL (``None``: the
    provider's default). It returns ``None`` when none of the provider's credentials are set,
    and raises ``ValueError`` naming the variables when they are set but incomplete.

    ``split(target, fields)`` returns the target as it must be asked for so that its records
    tell apart the record ``fields`` a report groups by (``step_id``, ``ab_variation``, ...),
    for a provider that only reports them on request; the default asks for nothing more.
    """

    name: str
    title: str
    target_kinds: tuple[TargetKind, ...]
    environment: Mapping[str, str]
    from_environment: Callable[[Mapping[str, str], str | None], LinkStatsSource[Any] | None]
    default_base_url: str
    base_url_help: str
    target_options: tuple[TargetOption, ...] = ()
    split: Callable[[Any, frozenset[str]], Any] = attrs.field(default=lambda target, _: target)

    def __attrs_post_init__(self) -> None:
        if not self.target_kinds:
            raise ValueError(f"provider {self.name!r} names no target kinds")

    @property
    def base_url_variable(self) -> str:
        """The environment variable that overrides the default base URL."""
        return f"{self.name.upper().replace('-', '_')}_BASE_URL"

    def source(
        self, environ: Mapping[str, str], base_url: str | None = None
    ) -> LinkStatsSource[Any] | None:
        """A source from the environment, at ``base_url`` if given, else at the URL in
        ``base_url_variable`` if set, else at the provider's default."""
        return self.from_environment(
            environ, base_url or environ.get(self.base_url_variable) or None
        )

    def kind_of(self, target: object) -> TargetKind | None:
        """The kind of a target this provider fetches; ``None`` for anyone else's."""
        for kind in self.target_kinds:
            if isinstance(target, kind.target_type):
                return kind
        return None

    def describe(self, target: object) -> str:
        """A target as a person names it: provider, kind and id (``acme send 42``)."""
        kind = self.kind_of(target)
        if kind is None:
            return repr(target)
        return f"{self.name} {kind.name.replace('-', ' ')} {kind.id_of(target)}"


def registered_providers() -> Mapping[str, ProviderInfo]:
    """Every registered provider by name, read afresh from the installed packages.

    A provider that fails to load, or is not a ``ProviderInfo`` named as registered, is left
    out with a warning, so one broken package does not take the others down with it.
    """
    found: dict[str, ProviderInfo] = {}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_load_order):
        try:
            info = entry_point.load()
        except Exception as error:
            _skip(entry_point.value, f"it failed to load: {type(error).__name__}: {error}")
            continue
        if not isinstance(info, ProviderInfo) or info.name != entry_point.name:
            _skip(entry_point.value, f"it is not a ProviderInfo named {entry_point.name!r}")
        elif info.name in found:
            _skip(entry_point.value, f"another package already provides {info.name!r}")
        else:
            found[info.name] = info
    return MappingProxyType(found)


def configured_sources(
    providers: Mapping[str, ProviderInfo], environ: Mapping[str, str]
) -> list[LinkStatsSource[Any]]:
    """A source for each of ``providers`` whose credentials ``environ`` holds."""
    sources = []
    for info in providers.values():
        source = info.source(environ)
        if source is not None:
            sources.append(source)
    return sources


def _load_order(entry_point: Any) -> tuple[bool, str]:
    # This package's own providers first, then every other package's, each by name.
    return not entry_point.value.startswith("linkstats."), entry_point.name


def _skip(value: str, reason: str) -> None:
    warnings.warn(f"linkstats provider {value} left out: {reason}", RuntimeWarning, stacklevel=3)
