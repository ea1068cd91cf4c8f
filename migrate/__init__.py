"""webhooks-migrate: carry an Identity Cloud customer from Webhooks v2 to v3 without losing an event."""

__version__ = "0.1.0"
