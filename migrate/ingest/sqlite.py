"""Ingest into SQLite on the standard library alone.

The process that writes a bulk load never imports SQLAlchemy (28 MiB and a sixth of a second):
the ledger, rejects, deliveries and re-sightings are plain SQL on a ``sqlite3`` connection, and
every value is encoded as the models' column types store it; tests compare whole stores with
what SQLAlchemy writes. The connection is either our own (``ingest_sqlite_file``) or the raw
driver connection of a SQLAlchemy engine (``ingest_on_engine``), which gets its settings back.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from adapters.errors import Reason
from migrate.ingest.batch import Batch, Counts, Span
from migrate.ingest.core import Ingester
from migrate.ingest.reports import (
    COMPLETED,
    INCOMPLETE,
    PRODUCERS,
    IngestOptions,
    IngestReport,
    LedgerRow,
    check_etag,
)
from migrate.ingest.sqlite_writer import SqliteWriter
from migrate.store.sqlite_native import (
    connect,
    connect_read_only,
    has_table,
    stored_revision,
    stored_time,
)
from migrate.store.writes import (
    SQLITE_CHUNK,
    SQLITE_RESIGHT,
    insert_deliveries,
    insert_rejects,
    sqlite_insert,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

# SQLite page cache for an ingest connection, and how much one transaction may span (see
# Ingester._write_batch): together they decide how often index pages are rewritten.
SQLITE_CACHE_KIB = 16 * 1024
SQLITE_DEFAULT_CACHE_KIB = 2000  # SQLite's own default (-2000)

CONFLICT = str(Reason.CONFLICT)
_LEDGER_COLUMNS = "id, status, last_line, read, inserted, duplicates, rejected, resume_key"
INSERT_FILE = sqlite_insert(
    "ingest_files",
    (
        "path",
        "sha256",
        "etag",
        "kind",
        "status",
        "last_line",
        "read",
        "inserted",
        "duplicates",
        "rejected",
        "started_at",
        "updated_at",
    ),
)
# Events seen before in another file (not rows this batch just inserted) get a re-sighting;
# the batch's ids are read from its staging table, still attached.
RESIGHT_STAGED = SQLITE_RESIGHT.format(ids="SELECT event_id FROM {schema}.rows")
# Rows of a batch (staged, still attached) whose stored event has a different payload text.
CONFLICTS_STAGED = (
    "SELECT s.event_id, s.first_line, s.payload, e.payload FROM {schema}.rows s "
    "JOIN main.events e ON e.event_id = s.event_id "
    "WHERE s.payload != e.payload AND s.source != 'v2'"
)
UPGRADE = (
    "UPDATE events SET signature_verified = 1 WHERE event_id IN ({ids}) "
    "AND (signature_verified IS NULL OR signature_verified = 0)"
)
"""Events a run verified that were stored unverified (``--no-verify``) or never checked."""
UPGRADE_STAGED = UPGRADE.format(ids="SELECT event_id FROM {schema}.rows")
ADVANCE = (
    "UPDATE ingest_files SET last_line = ?, read = read + ?, inserted = inserted + ?, "
    "duplicates = duplicates + ?, rejected = rejected + ?, updated_at = ?, "
    "resume_key = COALESCE(?, resume_key) "
    "WHERE id = ? AND last_line < ?"
)


class SqliteIngester(Ingester[sqlite3.Connection | None]):
    """Loads files into a SQLite store through one ``sqlite3`` connection in autocommit mode.

    ``conn`` is ``None`` only for a dry run against a store file that does not exist yet.
    """

    def __init__(self, conn: sqlite3.Connection | None, options: IngestOptions) -> None:
        super().__init__(options, spans=True)
        self.conn = conn
        self.writer: SqliteWriter = SqliteWriter()

    def _producer_processes(self) -> int:
        # The writer outruns one producer, so it gets two on a machine with more than one core.
        return PRODUCERS if (os.cpu_count() or 1) > 1 else 1

    def _store(self) -> sqlite3.Connection:
        return _writable(self.conn)

    # -- the ledger ---------------------------------------------------------------------------

    def _ledger_row(self, sha: str) -> LedgerRow | None:
        """The file's row, matched on content (sha256 and kind), with its conflicts counted."""
        conn, kind = self._store(), self.options.kind
        query = f"SELECT {_LEDGER_COLUMNS} FROM ingest_files WHERE sha256 = ? AND kind = ?"  # noqa: S608
        row = conn.execute(query, (sha, kind)).fetchone()
        if row is None:
            return None
        conflicts = conn.execute(
            "SELECT COUNT(*) FROM rejects WHERE file_id = ? AND reason = ?", (row[0], CONFLICT)
        ).fetchone()[0]
        file_id, status, last_line, read, inserted, duplicates, rejected, resume_key = row
        return LedgerRow(
            file_id, status, last_line, read, inserted, duplicates, rejected, conflicts, resume_key
        )

    def _open_ledger(self, path: str, sha: str) -> LedgerRow:
        if self.options.etag:
            query = "SELECT sha256 FROM ingest_files WHERE etag = ? AND kind = ? AND sha256 != ?"
            other = self._store().execute(query, (self.options.etag, self.options.kind, sha))
            check_etag(path, self.options.etag, sha, [r[0] for r in other])
        row = self._ledger_row(sha)
        if row is not None:
            return row
        now = stored_time(datetime.now(UTC))
        values = (path, sha, self.options.etag, self.options.kind, INCOMPLETE, 0, 0, 0, 0, 0)
        # Another process may create it first: OR IGNORE, and either way it exists afterwards.
        self._store().execute(INSERT_FILE, (*values, now, now))
        row = self._ledger_row(sha)
        if row is None:  # pragma: no cover - would mean the insert neither landed nor conflicted
            raise RuntimeError(f"the ledger row for {path} could not be created")
        return row

    def _complete_file(self, file_id: int) -> None:
        now = stored_time(datetime.now(UTC))
        self._store().execute(
            "UPDATE ingest_files SET status = ?, completed_at = ?, updated_at = ? WHERE id = ?",
            (COMPLETED, now, now, file_id),
        )

    def _forget_file(self, file_id: int) -> None:
        self._store().execute("DELETE FROM ingest_files WHERE id = ? AND read = 0", (file_id,))

    def _advance_ledger(
        self, conn: sqlite3.Connection | None, span: Span, file_id: int, now: datetime
    ) -> None:
        _writable(conn).execute(
            ADVANCE,
            (
                span.last_line,
                span.read,
                span.inserted,
                span.duplicates,
                span.rejected,
                stored_time(now),
                span.last_key,
                file_id,
                span.first_line,
            ),
        )

    # -- loading ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _loading(self) -> Iterator[sqlite3.Connection | None]:
        conn = self.conn
        if conn is None or self.options.dry_run:
            yield conn
            return
        _tune(conn, ingesting=True)
        self.writer.open()
        try:
            yield conn
        finally:
            self.writer.close(conn)  # rolls back what was not committed
            _tune(conn, ingesting=False)

    def _begin(self, conn: sqlite3.Connection | None) -> None:
        # IMMEDIATE: take the write lock now, waiting (busy_timeout) for another writer, rather
        # than fail when a read snapshot cannot be upgraded mid-transaction.
        _writable(conn).execute("BEGIN IMMEDIATE")

    def _commit(self, conn: sqlite3.Connection | None) -> None:
        store = _writable(conn)
        store.execute("COMMIT")
        self.writer.committed(store)

    def _in_transaction(self, conn: sqlite3.Connection | None) -> bool:
        return conn is not None and conn.in_transaction

    def _write_rows(
        self, conn: sqlite3.Connection | None, batch: Batch, file_id: int | None, *, recount: bool
    ) -> Counts:
        store = _writable(conn)
        inserted = self.writer.insert(store, batch)
        conflict_rows: list[dict[str, Any]] = []
        deliveries = batch.deliveries
        if inserted < len(batch.events):
            schema = self.writer.last_schema
            # Only rows of this batch not inserted can differ from the stored one: the text is
            # compared first (same encoder), the values where the text differs (key order).
            differing = store.execute(CONFLICTS_STAGED.format(schema=schema)).fetchall()
            conflicts = [
                (key, line, new)
                for key, line, new, old in differing
                if orjson.loads(new) != orjson.loads(old)
            ]
            conflict_rows = [
                self._conflict_row(key, line, file_id, new, batch.pointers.get(key, ""))
                for key, line, new in conflicts
            ]
            excluded = {key for key, _, _ in conflicts}
            where = _not_in(excluded)
            if file_id is not None and not recount:
                now = stored_time(datetime.now(UTC))
                resight = RESIGHT_STAGED.format(schema=schema) + where
                store.execute(resight, (now, file_id, file_id, *excluded))
            if self.tokens and self.verified:
                store.execute(UPGRADE_STAGED.format(schema=schema) + where, (*excluded,))
            if excluded:
                deliveries = [d for d in deliveries if d["event_id"] not in excluded]
        insert_deliveries(store, deliveries)
        insert_rejects(store, batch.rejects + conflict_rows)
        counts = self._counts(batch, inserted, conflict_rows)
        counts.removed = self._remove_refused(conn, batch)
        return counts

    def _stored(
        self, conn: sqlite3.Connection | None, ids: list[str]
    ) -> dict[str, tuple[Any, bool | None]]:
        if conn is None or not ids or not has_table(conn, "events"):
            return {}
        stored: dict[str, tuple[Any, bool | None]] = {}
        for start in range(0, len(ids), SQLITE_CHUNK):
            chunk = ids[start : start + SQLITE_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            query = (
                "SELECT event_id, payload, signature_verified FROM events "  # noqa: S608
                f"WHERE event_id IN ({marks})"
            )
            for key, payload, verified in conn.execute(query, chunk):
                stored[key] = (orjson.loads(payload), None if verified is None else bool(verified))
        return stored

    def _delete_unverified(self, conn: sqlite3.Connection | None, ids: list[str]) -> int:
        store = _writable(conn)  # in the write transaction: no other writer meanwhile
        removed = 0
        for start in range(0, len(ids), SQLITE_CHUNK):
            chunk = ids[start : start + SQLITE_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            where = f"event_id IN ({marks}) AND signature_verified = 0"
            select = f"SELECT event_id FROM events WHERE {where}"  # noqa: S608
            victims = [row[0] for row in store.execute(select, chunk)]
            if not victims:
                continue
            marks = ", ".join("?" for _ in victims)
            store.execute(f"DELETE FROM deliveries WHERE event_id IN ({marks})", victims)  # noqa: S608
            gone = store.execute(
                f"DELETE FROM events WHERE event_id IN ({marks}) AND signature_verified = 0",  # noqa: S608
                victims,
            )
            removed += gone.rowcount
        return removed

    def _upgrade(self, conn: sqlite3.Connection | None, ids: list[str]) -> None:
        store = _writable(conn)
        for start in range(0, len(ids), SQLITE_CHUNK):
            chunk = ids[start : start + SQLITE_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            store.execute(UPGRADE.format(ids=marks), chunk)  # autocommit


def _not_in(ids: set[str]) -> str:
    """A condition leaving out ``ids`` (bound after the statement's own parameters)."""
    return f" AND event_id NOT IN ({', '.join('?' for _ in ids)})" if ids else ""


def _writable(conn: sqlite3.Connection | None) -> sqlite3.Connection:
    if conn is None:  # pragma: no cover - only dry runs go without a store, and write nothing
        raise RuntimeError("this ingest has no store to write to")
    return conn


def _tune(conn: sqlite3.Connection, *, ingesting: bool) -> None:
    """Settings for an ingest connection, and back to the store's usual ones when it is done.

    ``synchronous = NORMAL`` is safe for ingest: what commits together (events, rejects, resume
    point) is lost together, so a power cut only means resuming a little earlier.

    Foreign keys are not checked while ingesting: every row's ``first_file_id``/``last_file_id``
    is the ledger row this run just read, and a delivery row refers to an event of the same
    batch, so the two parent lookups per row (a fifth of the insert's cost) cannot find anything
    wrong. Tests run ``PRAGMA foreign_key_check`` after ingesting every kind of input.
    """
    if conn.in_transaction:
        conn.execute("ROLLBACK")  # PRAGMA foreign_keys is a no-op inside a transaction
    conn.execute(f"PRAGMA foreign_keys = {'OFF' if ingesting else 'ON'}")
    conn.execute(f"PRAGMA synchronous = {'NORMAL' if ingesting else 'FULL'}")
    cache = SQLITE_CACHE_KIB if ingesting else SQLITE_DEFAULT_CACHE_KIB
    conn.execute(f"PRAGMA cache_size = -{cache}")


def ingest_sqlite_file(
    path: str, url: str, paths: Sequence[str], options: IngestOptions, *, upgrade: bool
) -> IngestReport:
    """Load ``paths`` into the SQLite store file ``path`` (``url`` names it for SQLAlchemy).

    A store that is not at the newest revision is upgraded first, which (only then) imports
    SQLAlchemy and Alembic. A dry run never creates or changes the file.
    """
    if options.dry_run:
        conn = connect_read_only(path)
    else:
        if upgrade and not _at_head(path):
            from migrate.forked import call_forked

            # In a child: Alembic and SQLAlchemy stay out of the process that loads.
            call_forked(lambda: _upgrade(url))
        conn = connect(path)
    try:
        return SqliteIngester(conn, options).ingest(paths)
    finally:
        if conn is not None:
            conn.close()


def _upgrade(url: str) -> None:
    from migrate.store.engine import open_store

    open_store(url).dispose()  # takes the migration lock and looks again


def _at_head(path: str) -> bool:
    from migrate.store.revision import shipped_head

    conn = connect(path)
    try:
        return stored_revision(conn) == shipped_head()
    finally:
        conn.close()


def ingest_on_engine(
    engine: sa.Engine, paths: Sequence[str], options: IngestOptions
) -> IngestReport:
    """Load through the raw ``sqlite3`` connection of a SQLAlchemy engine's pool.

    The connection goes back to the pool with the isolation level and settings it came with;
    one whose settings cannot be restored is invalidated rather than reused.
    """
    pooled = engine.raw_connection()
    try:
        conn = pooled.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        if conn.in_transaction:
            conn.rollback()
        level = conn.isolation_level
        conn.isolation_level = None
        try:
            return SqliteIngester(conn, options).ingest(paths)
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.isolation_level = level
            except sqlite3.Error:
                pooled.invalidate()
    finally:
        pooled.close()
