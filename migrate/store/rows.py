"""The rows the store keeps: the events, rejects and deliveries columns, what a row holds, and
what the store refuses (a value too long, U+0000).

:mod:`migrate.store.writes` (and :mod:`migrate.store.writes_pg`) write these rows; the readers
and adapters that prepare them use this module alone. Importing it does not import SQLAlchemy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.errors import Reason, Rejection
from adapters.timefmt import format_ms
from adapters.unified import UnifiedEvent
from migrate.store.fingerprint import DELIVERY_OBSERVATION

# The events columns written: the unified event's own fields (a NamedTuple, so a row is the
# event itself, delivery aside), then what the store adds; ``event_values`` gives them in order.
STORE_COLUMNS: tuple[str, ...] = (
    "signature_verified",
    "first_seen_at",
    "last_seen_at",
    "seen_count",
    "first_file_id",
    "last_file_id",
    "first_line",
)
EVENT_COLUMNS: tuple[str, ...] = UnifiedEvent._fields[:-1] + STORE_COLUMNS
assert UnifiedEvent._fields[-1] == "delivery"  # kept in its own table
TIME_COLUMNS: tuple[int, ...] = tuple(
    EVENT_COLUMNS.index(n) for n in ("occurred_at", "issued_at", "first_seen_at", "last_seen_at")
)
"""Positions in an event row of its times (unified text form until encoded)."""
JSON_COLUMNS: tuple[int, ...] = tuple(
    EVENT_COLUMNS.index(n) for n in ("audience", "attributes", "payload")
)
BOOL_COLUMNS: tuple[int, ...] = (EVENT_COLUMNS.index("signature_verified"),)

# The events columns bounded in length (the others are TEXT). Longer values are rejected before
# any backend sees them, so that none truncates (MariaDB's INSERT IGNORE would); a test checks
# this table against the model.
EVENT_STRING_LIMITS: dict[str, int] = {
    "event_id": 255,
    "source": 2,
    "event_type": 255,
    "entity_id": 255,
    "event_object_id": 255,
}
_LIMITS = [(EVENT_COLUMNS.index(name), name, limit) for name, limit in EVENT_STRING_LIMITS.items()]

# A delivery row: the observation (which its fingerprint is made from) and when it was made.
DELIVERY_COLUMNS: tuple[str, ...] = (*DELIVERY_OBSERVATION, "observed_at")
DELIVERY_TIMES = frozenset(("observed_at", "created_at", "updated_at"))
REJECT_COLUMNS: tuple[str, ...] = (
    "file_id",
    "path",
    "line",
    "pointer",
    "reason",
    "message",
    "raw",
    "created_at",
)


def now_text() -> str:
    """The current time in the unified text form the rows carry (milliseconds, ``Z``)."""
    return format_ms(datetime.now(UTC))


def check_event(event: UnifiedEvent) -> None:
    """Raise :class:`Rejection` if the store cannot keep ``event`` whole (a value too long)."""
    for index, name, limit in _LIMITS:
        value = event[index]
        if value is not None and len(value) > limit:
            # Checked here so that no backend truncates (MariaDB's INSERT IGNORE would).
            raise Rejection(
                Reason.SCHEMA, "", f"{name} is {len(value)} characters; the store keeps {limit}"
            )


def contains_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


NUL_REFUSED = "contains U+0000, which PostgreSQL cannot store (refused on every backend)"


def check_storable(event: UnifiedEvent) -> None:
    """:func:`check_event`, and no U+0000 anywhere in the event (its payload, what came from it,
    its delivery). For one event at a time (the listener, ``rejects retry``): one U+0000 in a
    shared transaction would fail every event in it on PostgreSQL. Ingest finds U+0000 more
    cheaply, from the raw record."""
    check_event(event)
    # Every other field comes from the payload. On the listener's hot path the payload's JSON
    # text is searched first (orjson, ~1.5 µs against ~8 µs for walking a token's claims): U+0000
    # is always written "\u0000" there, so without that text there is none; with it (or an
    # escaped backslash before "u0000", or a value orjson cannot write) the walk decides.
    if _may_hold_nul(event.payload) and contains_nul(event.payload):
        raise Rejection(Reason.SCHEMA, "", NUL_REFUSED)
    if event.delivery is not None and contains_nul(list(event.delivery)):
        raise Rejection(Reason.SCHEMA, "", NUL_REFUSED)


def _may_hold_nul(value: Any) -> bool:
    try:
        return b"\\u0000" in orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits, deep nesting: walk
        return True


def event_values(
    event: UnifiedEvent, *, verified: bool | None, file_id: int | None, line: int | None, now: str
) -> list[Any]:
    """``EVENT_COLUMNS`` values for ``event`` (times in the unified text form), length-checked.

    ``file_id`` and ``line``: where ingest read it; ``None`` for the listener.
    """
    check_event(event)
    return [*event[:-1], verified, now, now, 1, file_id, file_id, line]


def delivery_row(event: UnifiedEvent, now: str) -> dict[str, Any]:
    """The ``deliveries`` row of an event that carries a delivery observation."""
    d = event.delivery
    assert d is not None
    return {
        "event_id": event.event_id,
        "observed_at": datetime.fromisoformat(now),
        "record_id": d.record_id,
        "state": d.state,
        "attempts": d.attempts,
        "status_code": d.status_code,
        "endpoint": d.endpoint,
        "created_at": None if d.created_at is None else datetime.fromisoformat(d.created_at),
        "updated_at": None if d.updated_at is None else datetime.fromisoformat(d.updated_at),
    }


def reject_row(
    *,
    path: str,
    pointer: str,
    reason: str,
    message: str,
    raw: str,
    now: str,
    file_id: int | None = None,
    line: int = 0,
) -> dict[str, Any]:
    """A ``rejects`` row. ``file_id``/``line``: where ingest read it (none for the listener)."""
    return {
        "file_id": file_id,
        "path": path,
        "line": line,
        "pointer": pointer,
        "reason": reason,
        # U+0000 cannot be stored in PostgreSQL text: kept escaped, as the readers show it.
        "message": message.replace("\x00", "\\x00"),
        "raw": raw.replace("\x00", "\\x00"),
        "created_at": datetime.fromisoformat(now),
    }
