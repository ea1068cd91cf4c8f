"""The fast path for rows of a v2 archive: the usual row straight to its unified event.

:func:`adapters.v2_rows.event_from_row` rebuilds every row into a v2 notification and sends it
through the JSON path (schema check, two parses of its time, the canonical JSON, ``uuid5``),
about 20 µs of Python a row, several times what writing the row costs. :func:`fast_event` gives
the same event for the rows an archive is made of (strings, or UTC timestamps from a database)
in a few µs, and ``None`` for anything else: a NULL, a value of another type, a time it does not
recognise or cannot prove valid, a kind that is not one, a hash that differs. The caller then
takes the slow path, which accepts or refuses the row as it always has: the fast path never
refuses a row and never accepts one the slow path would refuse (``tests/test_v2_fastrows.py``
compares the two over generated rows, the stored bytes included).

Pure: no I/O, no state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from adapters.unified import UnifiedEvent
from adapters.v2 import KIND_TO_EVENT_TYPE, V2_NAMESPACE, V2Kind
from adapters.v2_rows import KIND_FIELD, V2_FIELDS, ColumnMap

# Stricter than the schema's patterns (ASCII digits and hex only, no trailing newline, which
# ``$`` would let through): whatever these accept, the schema accepts.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2})(:?)([0-9]{2})?)"
)
_NAMESPACE = V2_NAMESPACE.bytes
_VARIANT = "89ab89ab89ab89ab"  # the RFC 4122 variant nibble for each value of the hash's nibble
_UTC = dt.UTC
_DATETIME = dt.datetime
_EVENT_TYPES: dict[str, str] = dict(KIND_TO_EVENT_TYPE)


def _utc_times(value: dt.datetime, naive_utc: bool) -> tuple[str, str, str] | None:
    """A database timestamp's three times (see :func:`_times`), the notification's spelled as
    the slow path spells it (``format_us``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        if not naive_utc:
            return None  # refused as ambiguous: the slow path says so
        value = value.replace(tzinfo=_UTC)
    if value.tzinfo is not _UTC:
        try:
            value = value.astimezone(_UTC)
        except (OverflowError, ValueError):
            return None  # beyond the years datetime has: the slow path fails as it does
    if value.year < 1000:  # strftime("%Y") does not pad it: the slow path's text differs
        return None
    # "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (C, and always six digits): format_us's text.
    text = value.isoformat(timespec="microseconds")[:26] + "Z"
    return text, text, text[:23] + "Z"


def _times(value: Any, naive_utc: bool) -> tuple[str, str, str] | None:
    """``(the notification's datetime, its identity time, occurred_at)``: what
    ``v2_rows._time_text``, ``canonical_bytes`` and ``format_ms`` make of a row's time, for the
    spellings this recognises; ``None`` for the others and for what only the slow path may
    judge (an impossible date, a leap second, a year before 1000, an offset out of range)."""
    if value.__class__ is _DATETIME:
        return _utc_times(value, naive_utc)
    if value.__class__ is not str:
        return None
    m = _TIME.fullmatch(value)
    if m is None:
        return None  # zone-less, padded, or not a time: the slow path decides
    year, month, day, hour, minute, second, fraction, sign, hours, colon, minutes = m.groups()
    text = value
    if sign is not None and minutes is None:
        if colon:
            return None  # "+00:": nothing the slow path completes
        # "+00" (PostgreSQL's text for a timestamptz): the slow path completes it to "+00:00"
        text, minutes = value + ":00", "00"
    micro = ((fraction or "") + "000000")[:6]
    try:
        when = _DATETIME(
            int(year), int(month), int(day), int(hour), int(minute), int(second), int(micro),
            tzinfo=_UTC,
        )  # fmt: skip
    except ValueError:
        return None  # an impossible date or time, a leap second
    beyond = fraction[6:].rstrip("0") if fraction else ""  # kept in the identity
    if sign is None or (hours == "00" and minutes == "00"):
        if when.year < 1000:
            return None
        base = f"{year}-{month}-{day}T{hour}:{minute}:{second}."
        return text, f"{base}{micro}{beyond}Z", f"{base}{micro[:3]}Z"
    offset_hours, offset_minutes = int(hours), int(minutes)
    if offset_hours > 23 or offset_minutes > 59:
        return None
    offset = dt.timedelta(hours=offset_hours, minutes=offset_minutes)
    try:
        when = when - offset if sign == "+" else when + offset
    except OverflowError:
        return None
    if when.year < 1000:
        return None
    base = (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:"
        f"{when.minute:02d}:{when.second:02d}."
    )
    return (
        text,
        f"{base}{when.microsecond:06d}{beyond}Z",
        f"{base}{when.microsecond // 1000:03d}Z",
    )


def _text(value: Any) -> str | None:
    """A field's value when it is text (a ``UUID`` column: its usual text), else ``None``."""
    if value.__class__ is str:
        return value
    if value.__class__ is uuid.UUID:
        return str(value)
    return None


def fast_converter(
    columns: ColumnMap, *, kind: V2Kind | None = None, expected_hash: str | None = None
) -> Callable[[Mapping[str, Any]], UnifiedEvent | None]:
    """:func:`fast_event` with the mapping looked at once."""
    if tuple(field for field, _ in columns.columns) != V2_FIELDS:
        return lambda row: None  # another field order: the payload's keys would differ
    c_uuid, c_type, c_time, c_hash, c_client = (column for _, column in columns.columns)
    c_kind = columns.kind if columns.kind is not None else KIND_FIELD
    naive_utc = columns.naive_utc
    expected = None if expected_hash is None else expected_hash.encode()

    def convert(row: Mapping[str, Any]) -> UnifiedEvent | None:
        try:
            entity_id = _text(row[c_uuid])
            entity_type = _text(row[c_type])
            times = _times(row[c_time], naive_utc)
            v2_hash = _text(row[c_hash])
            client_id = _text(row[c_client])
        except KeyError:
            return None  # a missing column: the slow path names it
        if (
            entity_id is None
            or entity_type is None
            or times is None
            or v2_hash is None
            or client_id is None
            or not entity_type
            or not v2_hash
            or not client_id
            or _UUID.fullmatch(entity_id) is None
        ):
            return None
        kind_value = row.get(c_kind)
        row_type: str | None = kind
        if kind_value is not None:
            if kind_value.__class__ is not str:
                return None
            upper = kind_value.strip().upper()
            if upper:
                if upper not in _EVENT_TYPES:
                    return None
                row_type = upper
        if expected is not None:
            try:
                if not hmac.compare_digest(v2_hash.encode(), expected):
                    return None
            except UnicodeError:
                return None
        when, identity_time, occurred_at = times
        try:
            canonical = orjson.dumps(
                {  # the keys in sorted order: the canonical JSON without sorting it
                    "client_id": client_id,
                    "datetime": identity_time,
                    "entity_type": entity_type,
                    "hash": v2_hash,
                    "uuid": entity_id,
                }
            )
        except orjson.JSONEncodeError:
            return None  # a lone surrogate: the slow path's stdlib fallback spells it
        # uuid5 without the UUID object: the version (5) and variant nibbles set in the text.
        digest = hashlib.sha1(_NAMESPACE + canonical, usedforsecurity=False).hexdigest()
        event_id = (
            f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-"
            f"{_VARIANT[int(digest[16], 16)]}{digest[17:20]}-{digest[20:32]}"
        )
        payload = {
            "uuid": entity_id,
            "entity_type": entity_type,
            "datetime": when,
            "hash": v2_hash,
            "client_id": client_id,
        }
        return UnifiedEvent(
            event_id,
            "v2",
            occurred_at,
            payload,
            None if row_type is None else _EVENT_TYPES[row_type],
            entity_type,
            entity_id,
            None,
            client_id,
            v2_hash=v2_hash,
        )

    return convert


def fast_event(
    row: Mapping[str, Any],
    columns: ColumnMap,
    *,
    kind: V2Kind | None = None,
    expected_hash: str | None = None,
) -> UnifiedEvent | None:
    """The event :func:`adapters.v2_rows.event_from_row` makes of ``row``, or ``None`` when the
    row is anything but the usual (then ask the slow path, which may refuse it)."""
    return fast_converter(columns, kind=kind, expected_hash=expected_hash)(row)
