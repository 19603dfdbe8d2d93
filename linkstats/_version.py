"""The installed package's version: one source of truth, the project's metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linkstats")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

USER_AGENT = f"linkstats/{__version__}"
