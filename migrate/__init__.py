"""webhooks-migrate: move Identity Cloud webhooks from v2 to v3 without losing an event."""

__version__ = "0.1.0"
