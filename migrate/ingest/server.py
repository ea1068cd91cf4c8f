"""Ingest through SQLAlchemy: PostgreSQL and MariaDB/MySQL (and SQLite, as a reference).

PostgreSQL gets its own writer (``COPY``); MariaDB and anything else insert through SQLAlchemy
Core. SQLite stores are loaded by ``migrate.ingest.sqlite`` on the standard library; the Core
writer here still runs on SQLite in tests, as the reference the fast paths must equal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from adapters.errors import Reason
from adapters.jsontext import json_text
from adapters.unified import UnifiedEvent
from migrate.ingest.batch import Batch, Counts, Span, sorted_rows
from migrate.ingest.copytext import copy_text_line
from migrate.ingest.core import Ingester
from migrate.ingest.reports import COMPLETED, INCOMPLETE, IngestOptions, LedgerRow, check_etag
from migrate.store.engine import unavailable
from migrate.store.models import Base
from migrate.store.rows import EVENT_COLUMNS, JSON_COLUMNS, event_values
from migrate.store.writes import (
    core_event,
    core_resight,
    insert_deliveries,
    insert_ignoring_conflicts,
    insert_rejects,
    is_deadlock,
)

Differing = tuple[str, int, str]
"""A batch's row whose event_id is stored with another payload: id, line, its payload's text."""


def _tables() -> tuple[sa.Table, sa.Table]:
    tables = Base.metadata.tables
    return tables["events"], tables["ingest_files"]


def string_limits(table: sa.Table) -> dict[str, int]:
    """The lengths ``table``'s bounded string columns keep (a test compares them with
    ``migrate.store.rows.EVENT_STRING_LIMITS``)."""
    return {
        c.name: c.type.length
        for c in table.columns
        if isinstance(c.type, sa.String) and c.type.length is not None
    }


class _InMemoryRows:
    """Writers whose batches carry their rows to the writing thread (nothing to stage)."""

    def encode(self, values: list[Any]) -> Any:
        raise NotImplementedError

    def encode_event(
        self,
        event: UnifiedEvent,
        *,
        verified: bool | None,
        file_id: int | None,
        line: int,
        now: str,
    ) -> Any:
        return self.encode(
            event_values(event, verified=verified, file_id=file_id, line=line, now=now)
        )

    def prepare(self, batch: Batch) -> None:
        pass

    def full(self) -> bool:
        return False


class _CoreWriter(_InMemoryRows):
    """Events insert through SQLAlchemy Core: PostgreSQL and MariaDB (multi-row statements)."""

    def __init__(self, engine: sa.Engine, table: sa.Table) -> None:
        self.table = table
        statement = insert_ignoring_conflicts(engine, table)
        # Batched executemany reports no rowcount on psycopg; rows that were really inserted
        # come back through RETURNING where the backend has it (MySQL proper does not, but
        # there PyMySQL's multi-row INSERT IGNORE rowcount is exact).
        self.returning = bool(engine.dialect.insert_returning)
        self.statement = statement.returning(table.c.event_id) if self.returning else statement

    def encode(self, values: list[Any]) -> Any:
        return core_event(values)

    def insert(self, conn: sa.Connection, batch: Batch) -> tuple[int, list[Differing]]:
        """Insert the batch; ``(inserted, rows whose event_id is stored with another payload)``."""
        rows = sorted_rows(batch)
        if not rows:
            return 0, []
        result = conn.execute(self.statement, rows)
        inserted = len(result.all()) if self.returning else result.rowcount
        if inserted == len(rows):
            return inserted, []
        events = self.table
        query = sa.select(events.c.event_id, events.c.payload).where(
            events.c.event_id.in_([r["event_id"] for r in rows])
        )
        stored = dict(conn.execute(query).all())
        return inserted, [
            (r["event_id"], r["first_line"], json_text(r["payload"]))
            for r in rows
            if r["source"] != "v2"
            and r["event_id"] in stored
            and stored[r["event_id"]] != r["payload"]
        ]


class _PostgresWriter(_InMemoryRows):
    """Events insert on PostgreSQL: ``COPY`` into a staging table, then one ``INSERT … SELECT``.

    A multi-row ``VALUES`` statement of a thousand rows has 25,000 placeholders, which the driver
    re-parses for every batch (it was 3.4k events/s); ``COPY`` streams rows at the server's own
    load speed, and ``ON CONFLICT DO NOTHING`` on the final insert still skips stored events,
    its row count being exactly the rows inserted. The staging table is temporary: private to
    the session, never logged, emptied after each batch.

    The producer formats the batch as ``COPY`` text (``prepare``), so that in a producer process
    that Python work overlaps with the server's; the writer only streams the bytes.
    """

    STAGE = "webhooks_migrate_ingest_stage"
    RETRY_DIRECT_AFTER = 8

    def __init__(self, table: sa.Table) -> None:
        columns = ", ".join(EVENT_COLUMNS)
        # Table and column names come from our own metadata, never from input.
        self.create = (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.STAGE} AS "  # noqa: S608
            f"SELECT {columns} FROM {table.name} WITH NO DATA"
        )
        self.copy = f"COPY {self.STAGE} ({columns}) FROM STDIN"
        self.merge = (
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {self.STAGE} "  # noqa: S608
            "ON CONFLICT (event_id) DO NOTHING"
        )
        self.clear = f"TRUNCATE {self.STAGE}"
        self.conflicts = (
            f"SELECT s.event_id, s.first_line, s.payload::text FROM {self.STAGE} s "  # noqa: S608
            f"JOIN {table.name} e ON e.event_id = s.event_id WHERE s.payload <> e.payload "
            "AND s.source <> 'v2'"
        )
        self.copy_events = f"COPY {table.name} ({columns}) FROM STDIN"
        self.direct_in = 0  # batches to go before trying a direct COPY again
        import psycopg  # this writer is chosen only for the psycopg driver

        self.unique_violation = psycopg.errors.UniqueViolation

    def encode(self, values: list[Any]) -> Any:
        # COPY's text format parses each value with the column's own input function: the
        # unified timestamps are valid timestamptz text, JSON goes as its text.
        for i in JSON_COLUMNS:
            if values[i] is not None:
                values[i] = json_text(values[i])
        return tuple(values)

    def prepare(self, batch: Batch) -> None:
        """Producer side: the batch's rows as ``COPY`` text, sorted by event_id; ids kept."""
        batch.copy_data = "".join([copy_text_line(row) for row in sorted_rows(batch)]).encode()
        batch.events = dict.fromkeys(batch.events)

    def insert(self, conn: sa.Connection, batch: Batch) -> tuple[int, list[Differing]]:
        """Insert the batch; ``(inserted, rows whose event_id is stored with another payload)``."""
        if not batch.events:
            return 0, []
        driver = conn.connection.driver_connection
        assert driver is not None
        differing: list[Differing] = []
        with driver.cursor() as cursor:
            if self.direct_in:
                self.direct_in -= 1
            elif self._copy_direct(cursor, batch):
                return len(batch.events), []
            cursor.execute(self.create)
            with cursor.copy(self.copy) as copy:
                copy.write(batch.copy_data)
            cursor.execute(self.merge)
            inserted = int(cursor.rowcount)
            if inserted < len(batch.events):
                cursor.execute(self.conflicts)  # jsonb equality: key order does not matter
                differing = [(key, line, text) for key, line, text in cursor.fetchall()]
            cursor.execute(self.clear)
        return inserted, differing

    def _copy_direct(self, cursor: Any, batch: Batch) -> bool:
        """``COPY`` straight into events, if no row of the batch is stored yet.

        Most batches of a new export hold only new events, and skipping the staging table
        saves a third of the server's work (bench/ingest.py). A stored event_id makes the
        ``COPY`` fail on the unique index; it is rolled back to the savepoint, the batch goes
        through the staging table, and the next ``RETRY_DIRECT_AFTER`` batches go there
        directly (overlapping files tend to overlap for a stretch).
        """
        cursor.execute("SAVEPOINT webhooks_migrate_copy")
        try:
            with cursor.copy(self.copy_events) as copy:
                copy.write(batch.copy_data)
        except self.unique_violation:
            cursor.execute("ROLLBACK TO SAVEPOINT webhooks_migrate_copy")
            self.direct_in = self.RETRY_DIRECT_AFTER
            return False
        cursor.execute("RELEASE SAVEPOINT webhooks_migrate_copy")
        return True


class ServerIngester(Ingester[sa.Connection]):
    """Loads files into a store behind a SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine, options: IngestOptions) -> None:
        self.engine = engine
        self.events, self.files = _tables()
        super().__init__(options, spans=engine.dialect.name in ("sqlite", "postgresql"))
        self.writer: _CoreWriter | _PostgresWriter
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            self.writer = _PostgresWriter(self.events)
        else:
            self.writer = _CoreWriter(engine, self.events)
        missing = {c.name for c in self.events.columns if not c.primary_key} ^ set(EVENT_COLUMNS)
        if missing:  # pragma: no cover - caught by the test suite when the model changes
            raise RuntimeError(f"events columns and EVENT_COLUMNS differ: {sorted(missing)}")

    def _producer_processes(self) -> int:
        # PostgreSQL's server-side insert is slower than one producer.
        return 1 if isinstance(self.writer, _PostgresWriter) else 0

    # -- the ledger ---------------------------------------------------------------------------

    def _ledger_row(self, conn: sa.Connection, sha: str) -> LedgerRow | None:
        """The file's row, matched on content (sha256 and kind), with its conflicts counted."""
        files = self.files
        query = sa.select(files).where(files.c.sha256 == sha, files.c.kind == self.options.kind)
        row = conn.execute(query).first()
        if row is None:
            return None
        rejects = Base.metadata.tables["rejects"]
        conflicts = conn.execute(
            sa.select(sa.func.count())
            .select_from(rejects)
            .where(rejects.c.file_id == row.id, rejects.c.reason == str(Reason.CONFLICT))
        ).scalar_one()
        return _ledger_of(row, int(conflicts))

    def _open_ledger(self, path: str, sha: str) -> LedgerRow:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            if self.options.etag:
                files = self.files
                others = conn.execute(
                    sa.select(files.c.sha256).where(
                        files.c.etag == self.options.etag,
                        files.c.kind == self.options.kind,
                        files.c.sha256 != sha,
                    )
                ).scalars()
                check_etag(path, self.options.etag, sha, list(others))
            row = self._ledger_row(conn, sha)
            if row is not None:
                return row
            conn.execute(
                insert_ignoring_conflicts(self.engine, self.files),
                {
                    "path": path,
                    "sha256": sha,
                    "etag": self.options.etag,
                    "kind": self.options.kind,
                    "status": INCOMPLETE,
                    "last_line": 0,
                    "read": 0,
                    "inserted": 0,
                    "duplicates": 0,
                    "rejected": 0,
                    "started_at": now,
                    "updated_at": now,
                },
            )
        # Another process may have created it first: either way it exists now. Read it in a new
        # transaction: under REPEATABLE READ (MariaDB's default) the old snapshot would not
        # show a row committed by that other process.
        with self.engine.begin() as conn:
            row = self._ledger_row(conn, sha)
        if row is None:  # pragma: no cover - would mean the insert neither landed nor conflicted
            raise RuntimeError(f"the ledger row for {path} could not be created")
        return row

    def _complete_file(self, file_id: int) -> None:
        with self.engine.begin() as conn:
            now = datetime.now(UTC)
            conn.execute(
                sa.update(self.files)
                .where(self.files.c.id == file_id)
                .values(status=COMPLETED, completed_at=now, updated_at=now)
            )

    def _forget_file(self, file_id: int) -> None:
        with self.engine.begin() as conn:
            files = self.files
            conn.execute(sa.delete(files).where(files.c.id == file_id, files.c.read == 0))

    # -- loading ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _loading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:  # closing it rolls back what was not committed
            yield conn

    def _begin(self, conn: sa.Connection) -> None:
        conn.begin()

    def _commit(self, conn: sa.Connection) -> None:
        conn.commit()

    def _in_transaction(self, conn: sa.Connection) -> bool:
        return conn.in_transaction()

    def _write_alone(
        self, conn: sa.Connection, batch: Batch, file_id: int | None, *, recount: bool, span: Span
    ) -> Counts:
        attempt = 0
        while True:
            try:
                with conn.begin():
                    span.start(batch.first_line)
                    counts = self._write_rows(conn, batch, file_id, recount=recount)
                    span.add(batch, counts)
                    self._commit_span(conn, span, file_id, recount=recount, commit=False)
                if file_id is not None and not recount:
                    self.committed_line = batch.last_line
                return counts
            except sa.exc.OperationalError as exc:
                # Concurrent ingests of one file can deadlock on MariaDB; the batch is
                # idempotent, so it is simply retried. Anything else is the caller's to see.
                if not _is_retryable(exc):
                    raise
                attempt += 1
                if attempt == 5:
                    raise unavailable(self.engine.url, exc) from exc
                time.sleep(0.05 * attempt)

    def _write_rows(
        self, conn: sa.Connection, batch: Batch, file_id: int | None, *, recount: bool
    ) -> Counts:
        inserted, differing = self.writer.insert(conn, batch)
        conflict_rows: list[dict[str, Any]] = []
        deliveries = batch.deliveries
        if inserted < len(batch.events):
            conflict_rows = [
                self._conflict_row(key, line, file_id, new, batch.pointers.get(key, ""))
                for key, line, new in differing
            ]
            excluded = {key for key, _, _ in differing}
            seen = [key for key in batch.events if key not in excluded]
            if file_id is not None and not recount:
                core_resight(conn, seen, file_id)
            if self.tokens and self.verified:
                self._upgrade_in(conn, seen)
            if excluded:
                deliveries = [d for d in deliveries if d["event_id"] not in excluded]
        insert_deliveries(conn, deliveries)
        insert_rejects(conn, batch.rejects + conflict_rows)
        counts = self._counts(batch, inserted, conflict_rows)
        counts.removed = self._remove_refused(conn, batch)
        return counts

    def _upgrade_in(self, conn: sa.Connection, ids: list[str]) -> None:
        events = self.events
        conn.execute(
            sa.update(events)
            .where(
                events.c.event_id.in_(ids),
                sa.or_(
                    events.c.signature_verified.is_(None),
                    events.c.signature_verified == sa.false(),
                ),
            )
            .values(signature_verified=True)
        )

    def _stored(self, conn: sa.Connection, ids: list[str]) -> dict[str, tuple[Any, bool | None]]:
        if not ids or not sa.inspect(conn).has_table("events"):
            return {}
        events = self.events
        query = sa.select(events.c.event_id, events.c.payload, events.c.signature_verified)
        stored: dict[str, tuple[Any, bool | None]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for key, payload, verified in conn.execute(query.where(events.c.event_id.in_(chunk))):
                stored[key] = (payload, None if verified is None else bool(verified))
        return stored

    def _delete_unverified(self, conn: sa.Connection, ids: list[str]) -> int:
        events, deliveries = self.events, Base.metadata.tables["deliveries"]
        unverified = events.c.signature_verified == sa.false()
        removed = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            # Locked as read: a concurrent verified ingest's upgrade waits, or has committed
            # and the row is no longer selected (PostgreSQL and MariaDB read the latest row).
            lock = sa.select(events.c.event_id).where(events.c.event_id.in_(chunk), unverified)
            victims = list(conn.execute(lock.with_for_update()).scalars())
            if not victims:
                continue
            conn.execute(sa.delete(deliveries).where(deliveries.c.event_id.in_(victims)))
            gone = conn.execute(sa.delete(events).where(events.c.event_id.in_(victims), unverified))
            removed += gone.rowcount
        return removed

    def _upgrade(self, conn: sa.Connection, ids: list[str]) -> None:
        # Reading what is stored has begun a transaction already (SQLAlchemy autobegins).
        self._upgrade_in(conn, ids)
        conn.commit()

    def _advance_ledger(self, conn: sa.Connection, span: Span, file_id: int, now: datetime) -> None:
        files = self.files
        # Conditional on the resume point, so that two processes racing over the same lines
        # count them once.
        conn.execute(
            sa.update(files)
            .where(files.c.id == file_id, files.c.last_line < span.first_line)
            .values(
                last_line=span.last_line,
                read=files.c.read + span.read,
                inserted=files.c.inserted + span.inserted,
                duplicates=files.c.duplicates + span.duplicates,
                rejected=files.c.rejected + span.rejected,
                updated_at=now,
                **({} if span.last_key is None else {"resume_key": span.last_key}),
            )
        )


def _ledger_of(row: Any, conflicts: int) -> LedgerRow:
    return LedgerRow(
        row.id,
        row.status,
        row.last_line,
        row.read,
        row.inserted,
        row.duplicates,
        row.rejected,
        conflicts,
        row.resume_key,
    )


def _is_retryable(exc: sa.exc.OperationalError) -> bool:
    # A deadlock the server broke (the one classification the listener uses too), or a lock
    # that was not granted in time: the batch is idempotent, so running it again is safe.
    text = str(exc.orig).lower()
    return is_deadlock(exc) or "database is locked" in text or "lock wait timeout" in text
