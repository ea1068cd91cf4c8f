"""Rows of a v2 archive (a database table a v2 listener wrote, or a CSV dump of it) → unified
events, through the same conversion as a v2 notification received as JSON.

A row is mapped to the notification it was made from (``uuid``, ``entity_type``, ``datetime``,
``hash``, ``client_id``; each from the column the mapping names, by default the field's own
name), and that notification goes through :func:`adapters.v2.event_from_v2`: the event id of an
archived notification is the id it gets when it arrives as JSON. A kind column (``ADD``,
``UPDATE``, ``DELETE``, any case) sets the event type row by row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from adapters.errors import Rejection
from adapters.timefmt import format_us
from adapters.unified import UnifiedEvent
from adapters.v2 import KIND_TO_EVENT_TYPE, V2Kind, event_from_v2

V2_FIELDS: tuple[str, ...] = ("uuid", "entity_type", "datetime", "hash", "client_id")
KIND_FIELD = "kind"
MAPPABLE_FIELDS: tuple[str, ...] = (*V2_FIELDS, KIND_FIELD)

# RFC 3339 without an offset: what a timestamp column without a zone is dumped as.
_ZONELESS = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?")
# An offset of hours only ("+00"): how PostgreSQL writes a timestamptz as text (COPY, psql).
_HOURS_OFFSET = re.compile(_ZONELESS.pattern + r"[+-]\d{2}")


class MissingColumn(ValueError):
    """The rows have no column the mapping names (a usage error, not a bad row)."""


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which column holds each v2 field, and how zone-less timestamps are read."""

    columns: tuple[tuple[str, str], ...] = tuple((f, f) for f in V2_FIELDS)
    """``(field, column)`` for every field of ``V2_FIELDS``."""
    kind: str | None = None
    """The column naming each row's webhook kind; ``None``: a column named ``kind`` if the rows
    have one, else the kind given for the whole input."""
    kind_named: bool = False
    """Whether the user named the kind column (then it must exist)."""
    naive_utc: bool = False
    """Take a timestamp without a zone as UTC (else the row is refused as ambiguous)."""

    def column(self, field: str) -> str:
        return dict(self.columns)[field]

    def described(self) -> list[str]:
        """``FIELD=COLUMN`` pairs, for identities and messages."""
        pairs = [f"{f}={c}" for f, c in self.columns]
        if self.kind is not None:
            pairs.append(f"{KIND_FIELD}={self.kind}")
        return pairs

    def check_columns(self, available: list[str] | tuple[str, ...]) -> None:
        """Raise :class:`MissingColumn` naming the first mapped column not in ``available``."""
        names = set(available)
        wanted = list(self.columns)
        if self.kind_named and self.kind is not None:
            wanted.append((KIND_FIELD, self.kind))
        for field, column in wanted:
            if column not in names:
                raise MissingColumn(
                    f"no column {column!r} for the v2 field {field} (columns: "
                    f"{', '.join(available) or 'none'}); name it with --map {field}=COLUMN"
                )


def column_map(pairs: Mapping[str, str], *, naive_utc: bool = False) -> ColumnMap:
    """A mapping from ``FIELD=COLUMN`` choices; unnamed fields keep their own name."""
    unknown = sorted(set(pairs) - set(MAPPABLE_FIELDS))
    if unknown:
        raise ValueError(f"unknown v2 field {unknown[0]!r} (fields: {', '.join(MAPPABLE_FIELDS)})")
    return ColumnMap(
        columns=tuple((f, pairs.get(f, f)) for f in V2_FIELDS),
        kind=pairs.get(KIND_FIELD),
        kind_named=KIND_FIELD in pairs,
        naive_utc=naive_utc,
    )


DEFAULT_COLUMNS = ColumnMap()


def _text(value: Any) -> Any:
    """A column value as the notification's JSON would carry it (strings; NULL stays null)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # UUID, int, Decimal: their usual text


def _time_text(value: Any, column: str, naive_utc: bool) -> Any:
    """A ``datetime`` value as RFC 3339 text; a zone-less timestamp only with ``naive_utc``."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            if not naive_utc:
                raise Rejection(
                    "bad_time",
                    "/" + column,
                    f"{column} is a timestamp without time zone ({value.isoformat()}): "
                    "ambiguous; --naive-utc takes such timestamps as UTC",
                )
            value = value.replace(tzinfo=dt.UTC)
        return format_us(value)
    if isinstance(value, str) and _HOURS_OFFSET.fullmatch(value.strip()):
        return value.strip() + ":00"
    if isinstance(value, str) and _ZONELESS.fullmatch(value.strip()):
        if not naive_utc:
            raise Rejection(
                "bad_time",
                "/" + column,
                f"{column} is a timestamp without time zone ({value.strip()!r}): ambiguous; "
                "--naive-utc takes such timestamps as UTC",
            )
        return value.strip() + "Z"
    return _text(value)


def row_kind(row: Mapping[str, Any], columns: ColumnMap, default: V2Kind | None) -> V2Kind | None:
    """The row's webhook kind from its kind column, else ``default``."""
    column = columns.kind if columns.kind is not None else KIND_FIELD
    value = row.get(column)
    if value is None:
        return default
    text = _text(value).strip().upper()
    if not text:
        return default
    if text not in KIND_TO_EVENT_TYPE:
        raise Rejection(
            "schema",
            "/" + column,
            f"{column} is {_text(value)[:64]!r}: not ADD, UPDATE or DELETE",
        )
    return cast(V2Kind, text)


def notification_of_row(row: Mapping[str, Any], columns: ColumnMap) -> dict[str, Any]:
    """The v2 notification a row holds (field order as v2 sends it)."""
    notification: dict[str, Any] = {}
    for field, column in columns.columns:
        try:
            value = row[column]
        except KeyError:
            columns.check_columns(list(row))
            raise  # pragma: no cover - check_columns raised
        if field == "datetime":
            notification[field] = _time_text(value, column, columns.naive_utc)
        else:
            notification[field] = _text(value)
    return notification


def event_from_row(
    row: Mapping[str, Any],
    columns: ColumnMap = DEFAULT_COLUMNS,
    *,
    kind: V2Kind | None = None,
    expected_hash: str | None = None,
) -> UnifiedEvent:
    """One archived row → the unified event of the notification it holds.

    A rejection points at the row's column (``/created_at``), not at the v2 field.
    """
    notification = notification_of_row(row, columns)
    row_type = row_kind(row, columns, kind)
    try:
        return event_from_v2(notification, kind=row_type, expected_hash=expected_hash)
    except Rejection as rejection:
        field = rejection.pointer[1:].split("/", 1)[0]
        if field in V2_FIELDS:
            rest = rejection.pointer[1 + len(field) :]
            column = columns.column(field)
            message = rejection.message
            if column != field:
                message = f"{message} (column {column}, the v2 field {field})"
            raise Rejection(rejection.reason, "/" + column + rest, message) from None
        raise
