"""Writing the store: the events, rejects and deliveries rows, and the idempotent event insert.

Everything that puts a row into ``events``, ``rejects`` or ``deliveries`` goes through here:
``ingest`` (rows from a file, with its ledger id and line numbers) and the listener (rows from
requests, with neither). The rows themselves (columns, length checks, U+0000) are
:mod:`migrate.store.rows`; here, one encoding per backend and one ``INSERT`` that skips stored
``event_id``s per backend:

- SQLite on the standard library (``sqlite3``): ``INSERT OR IGNORE`` built by :func:`sqlite_insert`.
- SQLAlchemy (PostgreSQL, MariaDB/MySQL, SQLite as a reference): :func:`insert_ignoring_conflicts`.

:func:`insert_events` is the operation both callers need: insert these events in the caller's
open transaction, skip those already stored, and say which were new. Importing this module does
not import SQLAlchemy (the SQLite ingest process never loads it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.jsontext import json_text
from adapters.unified import UnifiedEvent
from migrate.store.fingerprint import delivery_fingerprint
from migrate.store.rows import (
    BOOL_COLUMNS,
    DELIVERY_COLUMNS,
    DELIVERY_TIMES,
    EVENT_COLUMNS,
    JSON_COLUMNS,
    REJECT_COLUMNS,
    TIME_COLUMNS,
    check_event,
    delivery_row,
    event_values,
    now_text,
)
from migrate.store.sqlite_native import stored_time

if TYPE_CHECKING:
    import sqlalchemy as sa

# -- SQLite on the standard library -----------------------------------------------------------


def sqlite_insert(table: str, columns: Sequence[str], *, select_from: str | None = None) -> str:
    """The SQLite insert that skips rows violating a unique constraint (``INSERT OR IGNORE``).

    With ``select_from`` (a table name) the rows come from that table's same columns.
    Table and column names come from our own metadata, never from input.
    """
    names = ", ".join(columns)
    if select_from is not None:
        return f"INSERT OR IGNORE INTO {table} ({names}) SELECT {names} FROM {select_from}"  # noqa: S608
    marks = ", ".join("?" for _ in columns)
    return f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})"  # noqa: S608


SQLITE_INSERT_EVENT = sqlite_insert("events", EVENT_COLUMNS)
SQLITE_INSERT_DELIVERY = sqlite_insert("deliveries", (*DELIVERY_COLUMNS, "fingerprint"))
SQLITE_INSERT_REJECT = sqlite_insert("rejects", REJECT_COLUMNS)
SQLITE_RESIGHT = (
    "UPDATE events SET seen_count = seen_count + 1, last_seen_at = ?, last_file_id = ? "
    "WHERE event_id IN ({ids}) AND (last_file_id IS NULL OR last_file_id != ?)"
)
"""Events seen before in another file get a re-sighting; ``{ids}``: a subquery or ``?`` marks."""
SQLITE_CHUNK = 500  # ids per statement, well under SQLite's bound-parameter limit


def sqlite_event(values: list[Any]) -> tuple[Any, ...]:
    """An event row encoded as the model's column types store it in SQLite (tests compare)."""
    for i in TIME_COLUMNS:
        text = values[i]
        if text is not None:
            # "2020-01-27T16:53:50.739Z" -> "2020-01-27 16:53:50.739000": UTCDateTime's
            # SQLite storage (UTC wall time, microseconds, no zone).
            values[i] = f"{text[:10]} {text[11:23]}000"
    for i in JSON_COLUMNS:
        if values[i] is not None:
            values[i] = json_text(values[i])
    for i in BOOL_COLUMNS:
        if values[i] is not None:
            values[i] = int(values[i])
    return tuple(values)


def _sqlite_time(text: str | None) -> str | None:
    return None if text is None else f"{text[:10]} {text[11:23]}000"


def sqlite_event_row(
    event: UnifiedEvent, *, verified: bool | None, file_id: int | None, line: int | None, now: str
) -> tuple[Any, ...]:
    """``sqlite_event(event_values(event, ...))`` in one step, without the list and the loops
    over its columns: the SQLite ingest's per-row encoding (a test compares the two)."""
    check_event(event)
    (
        event_id, source, occurred_at, payload, event_type, entity_type, entity_id, issued_at,
        client_id, application_id, global_sub, issuer, audience, transaction_id,
        event_object_id, attributes, credential_type, v2_hash, _delivery,
    ) = event  # fmt: skip
    seen = _sqlite_time(now)
    return (
        event_id, source, _sqlite_time(occurred_at),
        None if payload is None else json_text(payload),
        event_type, entity_type, entity_id, _sqlite_time(issued_at),
        client_id, application_id, global_sub, issuer,
        "[]" if audience == () else None if audience is None else json_text(audience),
        transaction_id, event_object_id,
        None if attributes is None else json_text(attributes),
        credential_type, v2_hash,
        None if verified is None else int(verified),
        seen, seen, 1, file_id, file_id, line,
    )  # fmt: skip


def sqlite_delivery(row: dict[str, Any]) -> tuple[Any, ...]:
    # The fingerprint is the model's column default, computed from the same observation.
    values = [row[name] for name in DELIVERY_COLUMNS]
    for i, name in enumerate(DELIVERY_COLUMNS):
        if name in DELIVERY_TIMES and values[i] is not None:
            values[i] = stored_time(values[i])
    return (*values, delivery_fingerprint(row))


def sqlite_reject(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(stored_time(row[c]) if c == "created_at" else row[c] for c in REJECT_COLUMNS)


def sqlite_resight(conn: sqlite3.Connection, ids: Sequence[str], file_id: int) -> None:
    now = stored_time(datetime.now(UTC))
    for start in range(0, len(ids), SQLITE_CHUNK):
        chunk = list(ids[start : start + SQLITE_CHUNK])
        query = SQLITE_RESIGHT.format(ids=", ".join("?" for _ in chunk))
        conn.execute(query, (now, file_id, *chunk, file_id))


# -- SQLAlchemy -------------------------------------------------------------------------------


def insert_ignoring_conflicts(bind: sa.Engine | sa.Connection, table: sa.Table) -> sa.Insert:
    """An INSERT that silently skips rows violating a unique constraint, on every backend."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql, postgresql

    dialect = bind.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table).prefix_with("IGNORE")
    return sa.insert(table).prefix_with("OR IGNORE")


def core_event(values: list[Any]) -> dict[str, Any]:
    """An event row as SQLAlchemy Core binds it (times as datetimes, JSON as Python values)."""
    for i in TIME_COLUMNS:
        if values[i] is not None:
            values[i] = datetime.fromisoformat(values[i])
    return dict(zip(EVENT_COLUMNS, values, strict=True))


def core_resight(conn: sa.Connection, ids: Sequence[str], file_id: int) -> None:
    """Bump ``seen_count`` of events seen before in another file (not rows just inserted)."""
    import sqlalchemy as sa

    events = _table("events")
    conn.execute(
        sa.update(events)
        .where(
            events.c.event_id.in_(list(ids)),
            sa.or_(events.c.last_file_id.is_(None), events.c.last_file_id != file_id),
        )
        .values(
            seen_count=events.c.seen_count + 1,
            last_seen_at=datetime.now(UTC),
            last_file_id=file_id,
        )
    )


def _table(name: str) -> sa.Table:
    from migrate.store.models import Base

    return Base.metadata.tables[name]


# -- the idempotent insert, for either connection ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Inserted:
    """What :func:`insert_events` did: ids stored now, and ids the store (or the call) had."""

    new: tuple[str, ...]
    duplicates: tuple[str, ...]


def insert_events(
    conn: sqlite3.Connection | sa.Connection,
    events: Sequence[UnifiedEvent],
    *,
    verified: bool | None,
    file_id: int | None = None,
    lines: Sequence[int] | None = None,
    now: str | None = None,
) -> Inserted:
    """Insert ``events`` in the caller's open transaction, skipping stored ``event_id``s.

    Deliveries the events carry are stored too. An event repeated within ``events`` counts as a
    duplicate of its first occurrence. With a ``file_id`` (ingest), stored events seen before in
    another file get a re-sighting; ``lines`` are the events' line numbers there. Raises
    :class:`Rejection` for an event the store cannot keep: call :func:`check_event` first to
    refuse such an event alone. ``conn``: a ``sqlite3`` connection (standard library path) or a
    SQLAlchemy connection; the caller begins and commits.
    """
    now = now or now_text()
    rows: dict[str, list[Any]] = {}
    duplicates: list[str] = []
    deliveries = []
    for i, event in enumerate(events):
        line = None if lines is None else lines[i]
        values = event_values(event, verified=verified, file_id=file_id, line=line, now=now)
        if event.event_id in rows:
            duplicates.append(event.event_id)
            continue
        rows[event.event_id] = values
        if event.delivery is not None:
            deliveries.append(delivery_row(event, now))
    ids = sorted(rows)  # in index order: fewer pages touched
    if isinstance(conn, sqlite3.Connection):
        new = _sqlite_insert_events(conn, [sqlite_event(rows[k]) for k in ids])
    else:
        new = _core_insert_events(conn, ids, [core_event(rows[k]) for k in ids])
    fresh = set(new)
    seen = [k for k in ids if k not in fresh]
    if seen and file_id is not None:
        if isinstance(conn, sqlite3.Connection):
            sqlite_resight(conn, seen, file_id)
        else:
            core_resight(conn, seen, file_id)
    if deliveries:
        insert_deliveries(conn, deliveries)
    return Inserted(tuple(k for k in ids if k in fresh), tuple(seen + duplicates))


def _sqlite_insert_events(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[str]:
    new = []
    for row in rows:
        if conn.execute(SQLITE_INSERT_EVENT, row).rowcount:
            new.append(row[0])
    return new


def _core_insert_events(
    conn: sa.Connection, ids: list[str], rows: list[dict[str, Any]]
) -> list[str]:
    import sqlalchemy as sa

    if not rows:
        return []
    events = _table("events")
    statement = insert_ignoring_conflicts(conn, events)
    if conn.dialect.insert_returning:
        return [r[0] for r in conn.execute(statement.returning(events.c.event_id), rows)]
    # No RETURNING (MySQL proper): leave out the stored ones, insert the rest; if another
    # transaction stored some of them meanwhile, insert them one by one to know which.
    stored = set(conn.execute(sa.select(events.c.event_id).where(events.c.event_id.in_(ids))))
    stored_ids = {r[0] for r in stored}
    rest = [r for r in rows if r["event_id"] not in stored_ids]
    if not rest:
        return []
    with conn.begin_nested() as savepoint:
        if conn.execute(statement, rest).rowcount == len(rest):
            return [r["event_id"] for r in rest]
        savepoint.rollback()
    return [r["event_id"] for r in rest if conn.execute(statement, r).rowcount]


def insert_deliveries(
    conn: sqlite3.Connection | sa.Connection, rows: Sequence[dict[str, Any]]
) -> None:
    """Store delivery rows (:func:`delivery_row`); an observation already stored adds nothing."""
    _insert_rows(conn, "deliveries", SQLITE_INSERT_DELIVERY, sqlite_delivery, rows)


def insert_rejects(
    conn: sqlite3.Connection | sa.Connection, rows: Sequence[dict[str, Any]]
) -> None:
    """Store reject rows (:func:`reject_row`); one a resumed ingest re-read lands once."""
    _insert_rows(conn, "rejects", SQLITE_INSERT_REJECT, sqlite_reject, rows)


def _insert_rows(
    conn: sqlite3.Connection | sa.Connection,
    table: str,
    sqlite_sql: str,
    sqlite_values: Callable[[dict[str, Any]], tuple[Any, ...]],
    rows: Sequence[dict[str, Any]],
) -> None:
    if not rows:
        return
    if isinstance(conn, sqlite3.Connection):
        conn.executemany(sqlite_sql, [sqlite_values(r) for r in rows])
    else:
        conn.execute(insert_ignoring_conflicts(conn, _table(table)), list(rows))


def is_deadlock(exc: BaseException) -> bool:
    """Whether the server rolled the transaction back to break a deadlock (or a serialization
    conflict): PostgreSQL SQLSTATE 40P01/40001, MySQL/MariaDB error 1213."""
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    if getattr(orig, "sqlstate", None) in ("40P01", "40001"):
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] == 1213


def count_resightings(conn: sqlite3.Connection | sa.Connection, ids: Sequence[str]) -> None:
    """The listener's re-sightings: each id in ``ids`` (repeats count) was delivered again.

    Adds to ``seen_count`` and sets ``last_seen_at``; rows from files keep their file columns.
    """
    if not ids:
        return
    counts: dict[str, int] = {}
    for event_id in ids:
        counts[event_id] = counts.get(event_id, 0) + 1
    rows = [(n, event_id) for event_id, n in sorted(counts.items())]
    if isinstance(conn, sqlite3.Connection):
        now = stored_time(datetime.now(UTC))
        conn.executemany(
            "UPDATE events SET seen_count = seen_count + ?, last_seen_at = ? WHERE event_id = ?",
            [(n, now, event_id) for n, event_id in rows],
        )
        return
    import sqlalchemy as sa

    events = _table("events")
    conn.execute(
        sa.update(events)
        .where(events.c.event_id == sa.bindparam("b_id"))
        .values(
            seen_count=events.c.seen_count + sa.bindparam("b_n"),
            last_seen_at=datetime.now(UTC),
        ),
        [{"b_id": event_id, "b_n": n} for n, event_id in rows],
    )
