"""``python -m linkstats``: the command line."""

from .cli import main

raise SystemExit(main())
