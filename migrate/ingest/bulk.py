"""Bulk mode: load without the secondary indexes of ``events``, then build them in one pass.

Every insert into ``events`` updates its unique index on ``event_id`` (which finds duplicates,
and stays) and five secondary indexes (``entity_id, event_type, occurred_at, source``,
``occurred_at``, ``event_object_id``, ``source, event_type``, ``source, occurred_at``), each
at a random place. A bulk load drops the five first and builds
each at the end from one sorted pass over the table, which is cheaper than keeping them up to
date row by row once the table is large.

Never a store left without them: they are rebuilt when the load ends, however it ends (an
error, Ctrl-C). A process killed outright (SIGKILL, a power cut) cannot, so every ingest first
builds any that are missing, and ``db repair`` does it alone; until then ``db check`` reports
the missing indexes and says to run ``db repair``. Rebuilt indexes are exactly the migrations'
(same names, same columns): ``db check`` is clean again.

Chosen with ``--bulk`` (``IngestOptions.bulk = True``), or by itself (``None``) when the store
has no events yet and the input files add up to ``AUTO_BYTES`` or more (a database source:
holds ``AUTO_ROWS`` rows or more).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

    from migrate.ingest.core import Ingester

EVENT_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "ix_events_entity_id_event_type_occurred_at_source",
        ("entity_id", "event_type", "occurred_at", "source"),
    ),
    ("ix_events_event_object_id", ("event_object_id",)),
    ("ix_events_occurred_at", ("occurred_at",)),
    (
        "ix_events_source_event_type_signature_verified",
        ("source", "event_type", "signature_verified"),
    ),
    ("ix_events_source_occurred_at", ("source", "occurred_at")),
)
"""The secondary indexes of ``events`` as the models and migrations name them (a test compares)."""
AUTO_BYTES = 64 * 1024 * 1024
"""Input at least this large, into a store without events, loads in bulk mode by itself."""
AUTO_ROWS = 500_000
"""The same for a database source (``v2-sql``), in rows: about what 64 MiB of a v2 archive
holds as CSV (a source is counted no further than this, see ``SqlSource.resolved``)."""
BUILD_CACHE_KIB = 16 * 1024  # as much as ingest itself uses: peak memory stays where it was

_LIST = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'",
    "postgresql": "SELECT indexname FROM pg_indexes "
    "WHERE tablename = 'events' AND schemaname = current_schema()",
    "mysql": "SELECT DISTINCT index_name FROM information_schema.statistics "
    "WHERE table_schema = DATABASE() AND table_name = 'events'",
}


class _Store:
    """Where the DDL goes: a ``sqlite3`` connection in autocommit mode, or an engine."""

    def __init__(self, conn: sqlite3.Connection | None = None, engine: Any = None) -> None:
        self.conn = conn
        self.engine: sa.Engine | None = engine
        name = "sqlite" if conn is not None else engine.dialect.name
        self.dialect = "mysql" if name in ("mysql", "mariadb") else name

    def rows(self, sql: str) -> list[Any]:
        if self.conn is not None:
            return self.conn.execute(sql).fetchall()
        assert self.engine is not None
        with self.engine.connect() as conn:
            return list(conn.exec_driver_sql(sql).all())

    def execute(self, statements: list[str]) -> None:
        if self.conn is not None:
            for sql in statements:
                self.conn.execute(sql)
            return
        assert self.engine is not None
        with self.engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)


def _present(store: _Store) -> set[str]:
    return {str(r[0]) for r in store.rows(_LIST[store.dialect])}


def missing_indexes(store: _Store) -> list[str]:
    present = _present(store)
    return [name for name, _ in EVENT_INDEXES if name not in present]


def build_missing(store: _Store) -> list[str]:
    """Build the secondary indexes ``events`` lacks; return their names."""
    missing = missing_indexes(store)
    if not missing:
        return []
    columns = dict(EVENT_INDEXES)
    exists = "" if store.dialect == "mysql" else "IF NOT EXISTS "
    statements = [
        f"CREATE INDEX {exists}{name} ON events ({', '.join(columns[name])})" for name in missing
    ]
    if store.conn is not None:  # sorting a large table: a page cache to do it in
        (cache,) = store.conn.execute("PRAGMA cache_size").fetchone()
        store.conn.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
        try:
            store.execute(statements)
        finally:
            store.conn.execute(f"PRAGMA cache_size = {int(cache)}")
    else:
        store.execute(statements)
    return missing


def drop_secondary(store: _Store) -> None:
    present = _present(store)
    names = [name for name, _ in EVENT_INDEXES if name in present]
    if store.dialect == "mysql":
        store.execute([f"DROP INDEX {name} ON events" for name in names])
    else:
        store.execute([f"DROP INDEX IF EXISTS {name}" for name in names])


def _store_of(ingester: Ingester[Any]) -> _Store | None:
    from migrate.ingest.sqlite import SqliteIngester

    if isinstance(ingester, SqliteIngester):
        return None if ingester.conn is None else _Store(conn=ingester.conn)
    from migrate.ingest.server import ServerIngester

    if isinstance(ingester, ServerIngester):
        return _Store(engine=ingester.engine)
    return None  # pragma: no cover - every backend is one of the two


def _large(paths: Sequence[str]) -> bool:
    size = 0
    for path in paths:
        with contextlib.suppress(OSError):
            size += 0 if path == "-" else os.path.getsize(path)
    return size >= AUTO_BYTES


def _empty(store: _Store) -> bool:
    limit = "SELECT 1 FROM events LIMIT 1"
    return not store.rows(limit)


@contextlib.contextmanager
def deferred_indexes(ingester: Ingester[Any], paths: Sequence[str]) -> Iterator[bool]:
    """Around a whole ingest: repair indexes a killed bulk load left out, then, in bulk mode,
    drop the secondary ones and build them when the load ends however it ends. Yields whether
    this is a bulk load."""
    options = ingester.options
    store = None if options.dry_run else _store_of(ingester)
    if store is None:
        yield False
        return
    build_missing(store)
    bulk = options.bulk
    if bulk is None:
        source = options.source
        large = _large(paths) if source is None else source.large
        bulk = large and _empty(store)
    if not bulk:
        yield False
        return
    drop_secondary(store)
    try:
        yield True
    finally:
        build_missing(store)


def repair(engine: sa.Engine) -> list[str]:
    """``db repair``: build the secondary indexes of ``events`` a killed bulk load left out."""
    return build_missing(_Store(engine=engine))


def missing_on(engine: sa.Engine) -> list[str]:
    """The secondary indexes of ``events`` missing from the store behind ``engine``."""
    return missing_indexes(_Store(engine=engine))
