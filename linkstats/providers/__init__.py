"""One module per provider: its targets, wire format, mapping to ``LinkClick`` and registration."""

import enum

from . import paubox, sendgrid

__all__ = ["Provider"]


class Provider(enum.StrEnum):
    """The built-in providers' names; each compares equal to its plain string."""

    PAUBOX = paubox.NAME
    SENDGRID = sendgrid.NAME
