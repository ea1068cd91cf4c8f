"""Reading the store for parity: each stream's bounds, then every event once, streamed.

The events come in ``(entity_id, event_type, occurred_at)`` order from the index that starts
with those columns, so one entity's events arrive together and memory holds one entity at a
time, never the store. Grouping compares ``entity_id`` values for equality only, so the
backend's collation order does not matter. Rows stream: a server-side cursor on PostgreSQL and
MariaDB (``stream_results``), SQLite's own cursor, which steps through the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text

from migrate.parity.report import EPOCH, ONE_US, Event
from migrate.parity.window import Bounds, Window
from migrate.store.models import MYSQL_NAMES, UTCDateTime
from migrate.store.models import Event as EventRow

BATCH_ROWS = 5000

_NAIVE_EPOCH = EPOCH.replace(tzinfo=None)
_fromisoformat = datetime.fromisoformat


def read_bounds(conn: Connection, cutoff: datetime) -> Bounds:
    """First and last ``occurred_at`` per source among events at or before ``cutoff``."""
    found: dict[str, tuple[datetime, datetime] | None] = {}
    column = EventRow.occurred_at
    for source in ("v2", "v3"):
        where = (EventRow.source == source, column <= cutoff)
        first = conn.execute(select(func.min(column)).where(*where)).scalar()
        last = conn.execute(select(func.max(column)).where(*where)).scalar()
        found[source] = None if first is None or last is None else (_aware(first), _aware(last))
    return Bounds(v2=found["v2"], v3=found["v3"])


def _aware(value: Any) -> datetime:
    # MIN()/MAX() lose the column type on SQLite (a string comes back); parse it the same way.
    if isinstance(value, str):
        value = _fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_reader(dialect: str) -> Callable[[Any], int]:
    """Raw ``occurred_at`` values as the driver returns them -> epoch microseconds."""
    if dialect == "sqlite":  # the text SQLAlchemy's DATETIME stores: "YYYY-MM-DD HH:MM:SS.ffffff"
        return lambda value: (_fromisoformat(value) - _NAIVE_EPOCH) // ONE_US
    if dialect == "postgresql":  # timestamptz: aware datetimes
        return lambda value: (value - EPOCH) // ONE_US
    return lambda value: (value - _NAIVE_EPOCH) // ONE_US  # MySQL/MariaDB DATETIME(6): naive UTC


def event_query(conn: Connection, *, with_ids: bool) -> Any:
    """The one statement parity reads with (the benchmark times it against parity)."""
    columns = "entity_id, event_type, occurred_at, source" + (", event_id" if with_ids else "")
    hint = " INDEXED BY ix_events_entity_id_event_type_occurred_at_source"
    source = "events" + (hint if conn.dialect.name == "sqlite" else "")
    statement = text(
        f"SELECT {columns} FROM {source}"  # noqa: S608 - fixed text, values are bound
        " WHERE occurred_at >= :start AND occurred_at <= :end"
        " ORDER BY entity_id, event_type, occurred_at"
    )
    return statement.bindparams(
        bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    )


def read_entities(
    conn: Connection, window: Window, *, with_ids: bool = False
) -> Iterator[tuple[str | None, list[Event], list[Event]]]:
    """Every event in ``window`` as ``(entity_id, v2 events, v3 events)``, one entity at a time."""
    if window.empty:
        return
    to_micros = time_reader(conn.dialect.name)
    result = conn.execute(
        event_query(conn, with_ids=with_ids),
        {"start": window.start, "end": window.end},
        execution_options={"stream_results": True, "yield_per": BATCH_ROWS},
    )
    if conn.dialect.name in MYSQL_NAMES:
        yield from _padded_groups(result, to_micros, with_ids=with_ids)
        return
    current: str | None = None
    v2: list[Event] = []
    v3: list[Event] = []
    started = False
    try:
        for rows in result.partitions():
            for row in rows:
                entity = row[0]
                if entity != current or not started:
                    if started:
                        yield current, v2, v3
                    current, v2, v3, started = entity, [], [], True
                event = (to_micros(row[2]), row[1], row[4] if with_ids else None)
                (v2 if row[3] == "v2" else v3).append(event)
    finally:
        result.close()
    if started:
        yield current, v2, v3


def _padded_groups(
    result: Any, to_micros: Callable[[Any], int], *, with_ids: bool
) -> Iterator[tuple[str | None, list[Event], list[Event]]]:
    """MySQL/MariaDB collations compare with trailing spaces ignored (PAD SPACE), so ``"u1"`` and
    ``"u1 "`` sort as one run in any order: group each run by exact value."""
    run: str | None = None
    groups: dict[str | None, tuple[list[Event], list[Event]]] = {}
    try:
        for rows in result.partitions():
            for row in rows:
                entity = row[0]
                key = None if entity is None else entity.rstrip(" ")
                if key != run or not groups:
                    for entity_id, (v2, v3) in groups.items():
                        yield entity_id, v2, v3
                    run, groups = key, {}
                v2, v3 = groups.setdefault(entity, ([], []))
                event = (to_micros(row[2]), row[1], row[4] if with_ids else None)
                (v2 if row[3] == "v2" else v3).append(event)
    finally:
        result.close()
    for entity_id, (v2, v3) in groups.items():
        yield entity_id, v2, v3
