"""Bulk-export NDJSON lines: each is the decoded claims of one token (no header, no signature)."""

from __future__ import annotations

from typing import Any

from adapters.claims import event_from_claims
from adapters.unified import UnifiedEvent


def event_from_export_line(line: Any) -> UnifiedEvent:
    """One parsed export line → unified event (rejections point into the line)."""
    return event_from_claims(line)
