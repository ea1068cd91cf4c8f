"""``status``: what is in the store, read without creating, upgrading or changing anything."""

from __future__ import annotations

from migrate.status.collect import StoreStatus, read_status
from migrate.status.render import render_text

__all__ = ["StoreStatus", "read_status", "render_text"]
