"""The listener's group commit on PostgreSQL as one statement: one round trip per transaction.

:mod:`migrate.store.writes` makes the rows; this module writes one listener batch (events and
rejects) with an ``INSERT … SELECT FROM json_to_recordset(…)`` per table, both in one statement
run in autocommit mode, so PostgreSQL commits it (durably, ``synchronous_commit = on``) before it
answers. Through SQLAlchemy the same batch took a pool ping, ``BEGIN``, ``SET LOCAL``, the
insert, the re-sighting ``UPDATE``, the rejects insert and ``COMMIT``: seven round trips, each
waiting to take the GIL back from the event loop, and a multi-row statement whose text changed
with the batch size (parsed anew every time). Here the text never changes: the server prepares
it once per connection, and the batch goes as two JSON documents that the server parses in C
(psycopg's array adapter quotes every element in Python: slower than the rest together).

Re-sightings: an ``event_id`` already stored gets ``seen_count + n`` and a new ``last_seen_at``
(``ON CONFLICT … DO UPDATE``, which waits for and then updates a row another transaction is
inserting, so two listener processes count every sighting); ``xmax = 0`` tells the rows this
statement inserted. Rows go in ``event_id`` order, so concurrent batches lock rows in the same
order and cannot deadlock.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.jsontext import json_text
from adapters.unified import UnifiedEvent
from migrate.store.rows import EVENT_COLUMNS, REJECT_COLUMNS, event_values, now_text

_SEEN = EVENT_COLUMNS.index("seen_count")


def _recordset(table: str, columns: Sequence[str], alias: str) -> str:
    """``json_to_recordset(%s::json) AS alias(column type, ...)``: the rows of one JSON array
    of objects, typed as the model's columns (parsed by the server, in C)."""
    from sqlalchemy.dialects import postgresql

    from migrate.store.models import Base

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    model = Base.metadata.tables[table]
    typed = ", ".join(f"{name} {model.c[name].type.compile(dialect=dialect)}" for name in columns)
    return f"json_to_recordset(%s::json) AS {alias}({typed})"


@functools.cache
def statement() -> str:
    """The one statement, built once from the model (on first use: importing this module does
    not import SQLAlchemy). Table and column names come from our own metadata, never input."""
    events = ", ".join(EVENT_COLUMNS)
    rejects = ", ".join(REJECT_COLUMNS)
    return (
        "WITH stored AS ("  # noqa: S608
        f"INSERT INTO events ({events}) SELECT {events}"
        f" FROM {_recordset('events', EVENT_COLUMNS, 'b')} ORDER BY event_id"
        " ON CONFLICT (event_id) DO UPDATE SET"
        " seen_count = events.seen_count + EXCLUDED.seen_count,"
        " last_seen_at = EXCLUDED.last_seen_at"
        " RETURNING event_id, xmax = 0 AS inserted"
        "), refused AS ("
        f"INSERT INTO rejects ({rejects}) SELECT {rejects}"
        f" FROM {_recordset('rejects', REJECT_COLUMNS, 'r')}"
        " ON CONFLICT DO NOTHING"
        ") SELECT event_id FROM stored WHERE inserted"
    )


def batch_params(
    batches: Sequence[tuple[Sequence[UnifiedEvent], bool | None]],
    rejects: Sequence[dict[str, Any]],
) -> tuple[str, str]:
    """The statement's two parameters: the events and the rejects as JSON arrays of objects.

    ``batches``: ``(events, verified)`` pairs; an event repeated in the batch is one row whose
    ``seen_count`` says how often it came. Times go as their unified text (valid timestamptz
    input), JSON columns as JSON values (reproduced as they are), and big integers exactly
    (:func:`adapters.jsontext.json_text`).
    """
    now = now_text()
    rows: dict[str, list[Any]] = {}
    for events, verified in batches:
        for event in events:
            if event.delivery is not None:  # a listener receives events, never deliveries
                raise ValueError("writes_pg writes no deliveries: use writes.insert_events")
            row = rows.get(event.event_id)
            if row is not None:
                row[_SEEN] += 1
            else:
                rows[event.event_id] = event_values(
                    event, verified=verified, file_id=None, line=None, now=now
                )
    # In any order: the statement inserts them in the server's event_id order.
    event_rows = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows.values()]
    reject_rows = [{name: _plain(r[name]) for name in REJECT_COLUMNS} for r in rejects]
    return json_text(event_rows), json_text(reject_rows)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def write_batch(
    cursor: Any,
    batches: Sequence[tuple[Sequence[UnifiedEvent], bool | None]],
    rejects: Sequence[dict[str, Any]],
) -> frozenset[str]:
    """Write one listener batch with ``cursor`` (psycopg, autocommit): the ids stored new."""
    cursor.execute(statement(), batch_params(batches, rejects), prepare=True)
    return frozenset(row[0] for row in cursor.fetchall())
