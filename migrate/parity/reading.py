"""Reading the store for parity: each stream's bounds, then every event once, streamed.

The events come in ``(entity_id, event_type, occurred_at)`` order from the index that starts
with those columns, so one entity's events arrive together and memory holds one entity at a
time, never the store. Grouping compares ``entity_id`` values for equality only, so the
backend's collation order does not matter.

This is the one hot loop of parity, so it runs on the driver's own cursor (SQLAlchemy's rows
would cost more than the read itself), streamed: SQLite's cursor steps through the result, a
named (server-side) cursor on PostgreSQL, an unbuffered ``SSCursor`` on MariaDB/MySQL. The
database turns ``occurred_at`` into epoch microseconds, which is cheaper there than in Python.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from migrate.errors import (
    EXIT_OPERATIONAL,
    MigrateError,
    StoreUnavailable,
    exit_code_of,
    one_line,
)
from migrate.parity.counting import V2, V3, Counts, count_entity, count_rows
from migrate.parity.window import Bounds, Window
from migrate.store.engine import safe_url
from migrate.store.sqlite_native import stored_time
from migrate.store.urls import MYSQL_NAMES

BATCH_ROWS = 5000
_ENTITY = itemgetter(4)
INDEX = "ix_events_entity_id_event_type_occurred_at_source"

# occurred_at -> integer microseconds since the epoch, per backend. SQLite keeps UTC text
# "YYYY-MM-DD HH:MM:SS.ffffff" (whole seconds from strftime, the fraction from its digits).
_SQLITE_SECONDS = (
    "unixepoch(occurred_at)"  # SQLite 3.38 and later: faster than strftime
    if sqlite3.sqlite_version_info >= (3, 38)
    else "CAST(strftime('%s', occurred_at) AS INTEGER)"
)
_MICROS = {
    "sqlite": f"{_SQLITE_SECONDS} * 1000000 + CAST(substr(occurred_at, 21, 6) AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM occurred_at) * 1000000 AS BIGINT)",
    "mysql": "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', occurred_at)",
}


def read_bounds(conn: Connection, cutoff: datetime) -> Bounds:
    """First and last ``occurred_at`` per source among events at or before ``cutoff``.

    On the driver's cursor like the rest of parity's reads: no ORM model (and its import
    time, a third of parity's start-up) on this path.
    """
    found: dict[str, tuple[datetime, datetime] | None] = {}
    with _driver_cursor(conn, streaming=False) as (family, cursor):
        mark = "?" if family == "sqlite" else "%s"
        for source in ("v2", "v3"):
            ends = []
            # Two statements: SQLite answers min() or max() alone from the index.
            for end in ("min", "max"):
                cursor.execute(
                    f"SELECT {end}(occurred_at) FROM events"  # noqa: S608
                    f" WHERE source = {mark} AND occurred_at <= {mark}",
                    (source, _bound(family, cutoff)),
                )
                ends.append(cursor.fetchone()[0])
            first, last = ends
            found[source] = None if first is None or last is None else (_aware(first), _aware(last))
    return Bounds(v2=found["v2"], v3=found["v3"])


def _aware(value: Any) -> datetime:
    # MIN()/MAX() lose the column type on SQLite (a string comes back); parse it the same way.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _family(conn: Connection) -> str:
    name = conn.dialect.name
    return "mysql" if name in MYSQL_NAMES else name


def event_sql(family: str, *, with_ids: bool) -> str:
    """The one statement parity reads with (the benchmark times it against parity).

    Columns: micros, event_type, event_id (or NULL), source, entity_id: a row's first three
    items are the event as :mod:`migrate.parity.report` takes it.
    """
    mark = "?" if family == "sqlite" else "%s"
    table = f"events INDEXED BY {INDEX}" if family == "sqlite" else "events"
    ids = "event_id" if with_ids else "NULL"
    return (
        f"SELECT {_MICROS[family]}, event_type, {ids}, source, entity_id FROM {table}"  # noqa: S608
        f" WHERE occurred_at >= {mark} AND occurred_at <= {mark}"
        " ORDER BY entity_id, event_type, occurred_at"
    )


def count_sql(family: str, part: str = "all") -> str:
    """The statement parity counts with (no details): columns ``micros * 4 + source bit``,
    event_type, entity_id, as :mod:`migrate.parity.counting` takes them.

    ``part`` splits the entities between processes: ``"all"``; ``"below"`` / ``"from"`` a
    bound (one more parameter, an ``entity_id``: both leave out events without an entity);
    ``"null"`` only those. SQLite compares ``+occurred_at`` (no column affinity), which skips
    a numeric conversion attempt of the bound per row: the values are text either way.
    """
    mark = "?" if family == "sqlite" else "%s"
    table = f"events INDEXED BY {INDEX}" if family == "sqlite" else "events"
    column = "+occurred_at" if family == "sqlite" else "occurred_at"
    entities = {
        "all": "",
        "below": f" AND entity_id < {mark}",
        "from": f" AND entity_id >= {mark}",
        "null": " AND entity_id IS NULL",
    }[part]
    code = f"({_MICROS[family]}) * 4 + CASE WHEN source = 'v2' THEN {V2} ELSE {V3} END"
    return (
        f"SELECT {code}, event_type, entity_id FROM {table}"  # noqa: S608
        f" WHERE {column} >= {mark} AND {column} <= {mark}{entities}"
        " ORDER BY entity_id, event_type, occurred_at"
    )


def read_counts(
    conn: Connection, window: Window, tolerance_us: int, part: str = "all", bound: str = ""
) -> Counts:
    """The counts of :mod:`migrate.parity.counting` for the events in ``window`` (of the
    entities ``part`` and ``bound`` choose, see :func:`count_sql`)."""
    counts = Counts()
    if window.empty:
        return counts
    with _driver_cursor(conn) as (family, cursor):
        params = [_bound(family, window.start), _bound(family, window.end)]
        if part in ("below", "from"):
            params.append(bound)
        cursor.execute(count_sql(family, part), params)
        with _collector_paused():
            if family == "mysql":
                for entity_id, rows, _ in _padded_groups(cursor, entity=2, source=None):
                    count_entity(rows, tolerance_us, counts, entity_id=entity_id)
            elif family == "sqlite":  # its cursor steps row by row: no batch lists to build
                count_rows(cursor, tolerance_us, counts)
            else:
                batches = iter(partial(cursor.fetchmany, BATCH_ROWS), [])
                count_rows(chain.from_iterable(batches), tolerance_us, counts)
    return counts


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while rows stream: every row is a new tuple, so it
    would run every few hundred rows (a tenth of parity's time, by profile) to find nothing:
    the counting makes no reference cycles, reference counting frees each row."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _bound(family: str, moment: datetime) -> Any:
    if family == "sqlite":
        return stored_time(moment)
    if family == "mysql":
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@contextmanager
def _driver_cursor(conn: Connection, *, streaming: bool = True) -> Iterator[tuple[str, Any]]:
    """The backend family and a (streaming) cursor of the driver's own on ``conn``, closed and
    its transaction ended afterwards.

    No SQLAlchemy hook sees what fails on this cursor: a store that stops answering (the
    driver's own lost connection, SQLite's disk or lock failure) becomes
    :class:`StoreUnavailable` naming the store here, in the parent and in the forked worker.
    """
    family = _family(conn)
    if family not in _MICROS:
        raise NotImplementedError(f"parity does not read {conn.dialect.name} stores")
    conn.commit()  # the driver cursor runs in a transaction of its own, nothing of ours pending
    cursor = _cursor(conn, family, streaming=streaming)
    try:
        yield family, cursor
    except Exception as exc:
        if isinstance(exc, MigrateError) or exit_code_of(exc) != EXIT_OPERATIONAL:
            raise
        raise StoreUnavailable(safe_url(conn.engine.url), one_line(exc)) from exc
    finally:
        with suppress(Exception):  # a connection already lost has nothing left to close
            cursor.close()
        conn.rollback()


def _cursor(conn: Connection, family: str, *, streaming: bool = True) -> Any:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if not streaming:
        return dbapi.cursor()
    if family == "postgresql":
        cursor: Any = dbapi.cursor(name="webhooks_migrate_parity")
        cursor.itersize = BATCH_ROWS
        return cursor
    if family == "mysql":
        import importlib

        # Unbuffered: rows come as they are read, not all at once (pymysql ships no stubs).
        return dbapi.cursor(importlib.import_module("pymysql.cursors").SSCursor)
    return dbapi.cursor()


def read_entities(
    conn: Connection, window: Window, *, with_ids: bool = False
) -> Iterator[tuple[str | None, list[Any], list[Any]]]:
    """Every event in ``window`` as ``(entity_id, v2 events, v3 events)``, one entity at a time."""
    if window.empty:
        return
    with _driver_cursor(conn) as (family, cursor):
        cursor.execute(
            event_sql(family, with_ids=with_ids),
            (_bound(family, window.start), _bound(family, window.end)),
        )
        if family == "mysql":
            yield from _padded_groups(cursor, entity=4, source=3)
        else:
            yield from _groups(cursor)


def _groups(cursor: Any) -> Iterator[tuple[str | None, list[Any], list[Any]]]:
    rows = chain.from_iterable(iter(partial(cursor.fetchmany, BATCH_ROWS), []))
    for entity_id, group in groupby(rows, key=_ENTITY):
        events = list(group)
        v2 = [e for e in events if e[3] == "v2"]
        if len(v2) == len(events):
            yield entity_id, v2, []
        elif v2:
            yield entity_id, v2, [e for e in events if e[3] != "v2"]
        else:
            yield entity_id, v2, events


def _padded_groups(
    cursor: Any, *, entity: int, source: int | None
) -> Iterator[tuple[str | None, list[Any], list[Any]]]:
    """MySQL/MariaDB collations compare with trailing spaces ignored (PAD SPACE), so ``"u1"`` and
    ``"u1 "`` sort as one run in any order: group each run by exact value (``entity`` and
    ``source``: the columns of the rows; ``source`` None: every row in the first list)."""
    run: Any = _padded_groups
    groups: dict[str | None, tuple[list[Any], list[Any]]] = {}
    while rows := cursor.fetchmany(BATCH_ROWS):
        for row in rows:
            entity_id = row[entity]
            key = None if entity_id is None else entity_id.rstrip(" ")
            if key != run:
                for done, (v2, v3) in groups.items():
                    yield done, v2, v3
                run, groups = key, {}
            v2, v3 = groups.setdefault(entity_id, ([], []))
            (v2 if source is None or row[source] == "v2" else v3).append(row)
    for entity_id, (v2, v3) in groups.items():
        yield entity_id, v2, v3
