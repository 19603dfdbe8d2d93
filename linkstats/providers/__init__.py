"""One module per provider: its targets, its wire format, its mapping to ``LinkClick``."""
