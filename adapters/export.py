"""Bulk-export NDJSON lines: each is the decoded claims of one token (no header, no signature)."""

from __future__ import annotations

from typing import Any

from adapters.claims import event_from_claims
from adapters.errors import Reason, Rejection
from adapters.unified import UnifiedEvent


def event_from_export_line(line: Any) -> UnifiedEvent:
    """One parsed export line → unified event (rejections point into the line)."""
    if line.__class__ is list:
        raise Rejection(Reason.SCHEMA, "", array_not_object("--from", "export"))
    return event_from_claims(line)


def array_not_object(option: str, kind: str) -> str:
    """What to say of a JSON array where ``kind`` reads one JSON object a line."""
    return (
        f"this is a JSON array; {option} {kind} takes one JSON object per line (v2 "
        f"notifications come as arrays: {option} v2)"
    )
