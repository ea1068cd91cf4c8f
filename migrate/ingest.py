"""Idempotent, resumable loading of input files into the v3 store.

Exactly-once comes from three mechanisms that work the same on SQLite, PostgreSQL and MariaDB:

- Each batch is one insert that skips existing ``event_id``s (``INSERT OR IGNORE`` /
  ``ON CONFLICT DO NOTHING`` / ``INSERT IGNORE``): no per-row round trips, no read-before-write.
- The ledger (``ingest_files``) knows each file by sha256 (and ETag): a completed file is not read
  again unless forced, and re-reading it changes nothing.
- Each batch commits its events, its rejects and the ledger's resume point together, so a run
  killed at any moment resumes after the last committed line and ends as one clean run would.

Every record read ends as inserted, duplicate or rejected:
``read = inserted + duplicates + rejected``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from adapters.errors import Reason, Rejection
from adapters.events_store import event_from_record, token_of_record
from adapters.set_token import ParsedToken, event_from_parsed, parse_compact
from adapters.timefmt import format_ms
from adapters.unified import UnifiedEvent
from migrate.convert import RejectedRecord
from migrate.kinds import V2Options, converter, iter_records, opened
from migrate.progress import Progress
from migrate.readers import DEFAULT_MAX_RECORD_BYTES, Record, display_name
from migrate.store.engine import dumps_json
from migrate.store.models import Base

INGEST_KINDS: tuple[str, ...] = ("v2", "set", "export", "events")
COMPLETED = "completed"
INCOMPLETE = "incomplete"

NO_KEY_SOURCE = "no key source is configured (--jwks or WEBHOOKS_MIGRATE_JWKS)"
NOT_APPLICABLE = "not applicable: the input carries no signatures"

TokenCheck = Callable[[ParsedToken], None]
"""Signature verification hook: raises :class:`Rejection` for a token that must not be stored."""


@dataclass(frozen=True, slots=True)
class IngestOptions:
    kind: str
    etag: str | None = None
    force: bool = False
    dry_run: bool = False
    batch_size: int | None = None
    """Records per batch; ``None``: the backend's default (``LARGE_BATCH`` on SQLite and PostgreSQL,
    ``BATCH`` on MariaDB)."""
    commit_rows: int | None = None
    """Commit (make progress durable) after about this many records; ``None``: the backend's
    default (``SPAN_ROWS`` on SQLite and PostgreSQL; every batch on MariaDB)."""
    v2: V2Options = field(default_factory=V2Options)
    verify: TokenCheck | None = None
    """Verify each token's signature (``set`` and ``events``); ``None`` stores them unverified."""
    unverified_because: str = NO_KEY_SOURCE
    """Said in the report when tokens are stored without verification (e.g. ``--no-verify``)."""
    show_progress: bool = False
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES
    on_reject: Callable[[RejectedRecord], None] | None = None


@dataclass(slots=True)
class FileReport:
    path: str
    sha256: str
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    already_ingested: bool = False
    resumed_from_line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "already_ingested": self.already_ingested,
            "resumed_from_line": self.resumed_from_line,
        }


@dataclass(slots=True)
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    verified: bool | None = None
    """True: every stored token's signature was verified; False: tokens were stored without
    verification (see ``signatures``); None: the input has no signatures (v2, export)."""
    signatures: str = NOT_APPLICABLE

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "signatures_verified": self.verified,
            "signatures": self.signatures,
        }


def _tables() -> tuple[sa.Table, sa.Table, sa.Table, sa.Table]:
    tables = Base.metadata.tables
    return tables["events"], tables["ingest_files"], tables["rejects"], tables["deliveries"]


def insert_ignoring_conflicts(engine: sa.Engine, table: sa.Table) -> sa.Insert:
    """An INSERT that silently skips rows violating a unique constraint, on every backend."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table).prefix_with("IGNORE")
    return sa.insert(table).prefix_with("OR IGNORE")


def _string_limits(table: sa.Table) -> dict[str, int]:
    return {
        c.name: c.type.length
        for c in table.columns
        if isinstance(c.type, sa.String) and c.type.length is not None
    }


class _Batch:
    """Records of one transaction; never splits one input line (a v2 array line) in two."""

    def __init__(self) -> None:
        self.events: dict[str, Any] = {}  # event_id -> encoded row, in-batch duplicates dropped
        self.deliveries: list[dict[str, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        self.read = 0
        self.in_batch_duplicates = 0
        self.first_line = 0
        self.last_line = 0
        self.bytes_read = 0
        self.stage_file = ""  # SQLite: where the producer staged the rows
        self.copy_data = b""  # PostgreSQL: the rows as COPY text


# The events columns ingest writes: the unified event's own fields (a NamedTuple, so a row is the
# event itself, delivery aside), then what the store adds; ``_values`` produces them in order.
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
_TIMES = tuple(
    EVENT_COLUMNS.index(n) for n in ("occurred_at", "issued_at", "first_seen_at", "last_seen_at")
)
_JSONS = tuple(EVENT_COLUMNS.index(n) for n in ("audience", "attributes", "payload"))
_BOOLS = (EVENT_COLUMNS.index("signature_verified"),)


def _sorted_rows(batch: _Batch) -> list[Any]:
    # Sorted keys insert into the event_id index in order: fewer pages touched.
    return [batch.events[key] for key in sorted(batch.events)]


class _InMemoryRows:
    """Writers whose batches carry their rows to the writing thread (nothing to stage)."""

    def open(self, conn: sa.Connection) -> None:
        pass

    def close(self, conn: sa.Connection) -> None:
        pass

    def prepare(self, batch: _Batch) -> None:
        pass

    def full(self) -> bool:
        return False

    def committed(self, conn: sa.Connection) -> None:
        pass


class _CoreWriter(_InMemoryRows):
    """Events insert through SQLAlchemy Core: PostgreSQL and MariaDB (multi-row statements)."""

    def __init__(self, engine: sa.Engine, table: sa.Table) -> None:
        statement = insert_ignoring_conflicts(engine, table)
        # Batched executemany reports no rowcount on psycopg; rows that were really inserted
        # come back through RETURNING where the backend has it (MySQL proper does not, but
        # there PyMySQL's multi-row INSERT IGNORE rowcount is exact).
        self.returning = bool(engine.dialect.insert_returning)
        self.statement = statement.returning(table.c.event_id) if self.returning else statement

    def encode(self, values: list[Any]) -> Any:
        for i in _TIMES:
            if values[i] is not None:
                values[i] = datetime.fromisoformat(values[i])
        return dict(zip(EVENT_COLUMNS, values, strict=True))

    def insert(self, conn: sa.Connection, batch: _Batch) -> int:
        rows = _sorted_rows(batch)
        if not rows:
            return 0
        result = conn.execute(self.statement, rows)
        return len(result.all()) if self.returning else result.rowcount


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
        self.copy_events = f"COPY {table.name} ({columns}) FROM STDIN"
        self.direct_in = 0  # batches to go before trying a direct COPY again
        import psycopg  # this writer is chosen only for the psycopg driver

        self.unique_violation = psycopg.errors.UniqueViolation

    def encode(self, values: list[Any]) -> Any:
        # COPY's text format parses each value with the column's own input function: the
        # unified timestamps are valid timestamptz text, JSON goes as its text.
        for i in _JSONS:
            if values[i] is not None:
                values[i] = dumps_json(values[i])
        return tuple(values)

    def prepare(self, batch: _Batch) -> None:
        """Producer side: the batch's rows as ``COPY`` text, sorted by event_id; ids kept."""
        batch.copy_data = "".join([copy_text_line(row) for row in _sorted_rows(batch)]).encode()
        batch.events = dict.fromkeys(batch.events)

    def insert(self, conn: sa.Connection, batch: _Batch) -> int:
        if not batch.events:
            return 0
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            if self.direct_in:
                self.direct_in -= 1
            elif self._copy_direct(cursor, batch):
                return len(batch.events)
            cursor.execute(self.create)
            with cursor.copy(self.copy) as copy:
                copy.write(batch.copy_data)
            cursor.execute(self.merge)
            inserted = int(cursor.rowcount)
            cursor.execute(self.clear)
        return inserted

    def _copy_direct(self, cursor: Any, batch: _Batch) -> bool:
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


def copy_text_line(row: Sequence[Any]) -> str:
    """One row in PostgreSQL's ``COPY … FROM STDIN`` text format, newline included.

    Only backslash, tab, newline and carriage return mean something inside a value in this
    format; they are rare in events, so a row's text is looked through once and escaped value by
    value only when one of them is there.
    """
    text = "".join([v for v in row if v.__class__ is str])
    plain = not ("\\" in text or "\t" in text or "\n" in text or "\r" in text)
    return "\t".join([_copy_value(v, plain) for v in row]) + "\n"


def _copy_value(value: Any, plain: bool) -> str:
    if value.__class__ is str:
        if plain:
            return value
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no COPY text form for {type(value).__name__}")


class _SqliteWriter:
    """Events insert on SQLite: batches staged by the producer, moved by one ``INSERT … SELECT``.

    Index maintenance is most of an insert's cost, and it runs inside ``sqlite3_step``, which
    releases the GIL. ``executemany`` takes the GIL back for every row it binds, so a producer
    thread cannot overlap with it. Here the producer thread writes each batch into a small
    unindexed staging file of its own, and the writer attaches that file and moves the whole
    batch with one statement, whose C work overlaps with the producer preparing the next batch.

    A file per batch, because the writer's transaction spans several batches (see
    ``Ingester._write_batch``) and would otherwise read a staging database at a fixed snapshot;
    a file is complete before it is attached. SQLite attaches at most ten databases, so a
    transaction spans at most ``MAX_ATTACHED`` batches; files are detached and deleted after
    each commit. Values are encoded exactly as the column types store them (a test compares
    them with the Core insert).
    """

    MAX_ATTACHED = 8

    def __init__(self, table: sa.Table) -> None:
        columns = ", ".join(EVENT_COLUMNS)
        placeholders = ", ".join("?" for _ in EVENT_COLUMNS)
        self.create_stage = f"CREATE TABLE rows ({columns})"
        self.stage_sql = f"INSERT INTO rows VALUES ({placeholders})"  # noqa: S608
        # Table and column names come from our own metadata, never from input. The staging
        # table holds its rows sorted by event_id (see ``prepare``), so a plain scan writes the
        # unique index in order (fewer pages per batch) without an ORDER BY, whose sorter
        # would hold a whole batch in the writer's memory.
        self.move_sql = (
            f"INSERT OR IGNORE INTO main.{table.name} ({columns}) "  # noqa: S608
            f"SELECT {columns} FROM {{schema}}.rows"
        )
        self.directory = ""
        self.attached: list[tuple[str, str]] = []

    def encode(self, values: list[Any]) -> Any:
        for i in _TIMES:
            text = values[i]
            if text is not None:
                # "2020-01-27T16:53:50.739Z" -> "2020-01-27 16:53:50.739000": UTCDateTime's
                # SQLite storage (UTC wall time, microseconds, no zone).
                values[i] = f"{text[:10]} {text[11:23]}000"
        for i in _JSONS:
            if values[i] is not None:
                values[i] = dumps_json(values[i])
        for i in _BOOLS:
            if values[i] is not None:
                values[i] = int(values[i])
        return tuple(values)

    def open(self, conn: sa.Connection) -> None:
        _sweep_stale_stages()
        self.directory = tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-")
        self.attached = []

    def prepare(self, batch: _Batch) -> None:
        """Producer side: write the batch's rows to a staging file; keep only their ids."""
        if not batch.events:
            return
        # Named by first line: producers working on shares of one file never collide.
        path = os.path.join(self.directory, f"batch-{batch.first_line}.db")
        stage = sqlite3.connect(path)
        try:
            # Scratch: a crash only loses what the ledger will have the next run redo.
            stage.execute("PRAGMA journal_mode = OFF")
            stage.execute("PRAGMA synchronous = OFF")
            stage.execute(self.create_stage)
            stage.executemany(self.stage_sql, _sorted_rows(batch))
            stage.commit()
        finally:
            stage.close()
        batch.stage_file = path
        batch.events = dict.fromkeys(batch.events)  # ids stay for dedupe and re-sightings

    def insert(self, conn: sa.Connection, batch: _Batch) -> int:
        if not batch.stage_file:
            return 0
        schema = f"stage{len(self.attached)}"
        conn.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (batch.stage_file,))
        self.attached.append((schema, batch.stage_file))
        # Read once, front to back: a page cache of its own (2 MB by default, for each of up to
        # MAX_ATTACHED files) would only add to the writer's peak memory.
        conn.exec_driver_sql(f"PRAGMA {schema}.cache_size = -{STAGE_CACHE_KIB}")
        return conn.exec_driver_sql(self.move_sql.format(schema=schema)).rowcount

    def full(self) -> bool:
        return len(self.attached) >= self.MAX_ATTACHED

    def committed(self, conn: sa.Connection) -> None:
        """After a commit (or rollback): detach and delete the batches just moved."""
        for schema, path in self.attached:
            conn.exec_driver_sql(f"DETACH DATABASE {schema}")
            with contextlib.suppress(OSError):
                os.unlink(path)
        if self.attached:
            conn.commit()  # DETACH began a transaction of its own; end it
        self.attached = []

    def close(self, conn: sa.Connection) -> None:
        with contextlib.suppress(sa.exc.DBAPIError):
            if conn.in_transaction():
                conn.rollback()
            self.committed(conn)
        shutil.rmtree(self.directory, ignore_errors=True)


STAGE_PREFIX = "webhooks-migrate-stage-"


def _sweep_stale_stages() -> None:
    """Remove staging directories left by ingests that were killed (their pid is gone)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(STAGE_PREFIX):
            continue
        pid = name[len(STAGE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _materialised(path: str) -> Iterator[str]:
    """stdin is spooled to a temporary file so it can be hashed, ledgered and resumed."""
    if path != "-":
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="webhooks-migrate-stdin-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class Ingester:
    """Loads files of one kind into one store.

    A producer thread reads, parses, validates, converts and encodes batches while the calling
    thread commits the previous one: database drivers release the GIL while the server (or
    SQLite's B-tree code) works, so the two overlap on a second core.
    """

    def __init__(self, engine: sa.Engine, options: IngestOptions) -> None:
        if options.kind not in INGEST_KINDS:
            raise ValueError(f"cannot ingest kind {options.kind!r}")
        self.engine = engine
        self.options = options
        self.events, self.files, self.rejects, self.deliveries = _tables()
        self.sqlite = engine.dialect.name == "sqlite"
        # SQLite and PostgreSQL load in large batches, several to a transaction: both rewrite
        # every index page a transaction touched when it commits. Concurrent loads of one file
        # insert in the same (sorted) order there, so they wait for each other rather than
        # deadlock. MariaDB's gap locks can deadlock them: there each batch commits alone and
        # is retried.
        spans = self.sqlite or engine.dialect.name == "postgresql"
        self.batch_size = options.batch_size or (LARGE_BATCH if spans else BATCH)
        # Rows per multi-batch transaction; 0: each batch commits alone (retried on deadlock).
        self.span_rows = (
            options.commit_rows if options.commit_rows is not None else (SPAN_ROWS if spans else 0)
        )
        self.writer: _CoreWriter | _SqliteWriter | _PostgresWriter
        if self.sqlite:
            self.writer = _SqliteWriter(self.events)
        elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            self.writer = _PostgresWriter(self.events)
        else:
            self.writer = _CoreWriter(engine, self.events)
        missing = {c.name for c in self.events.columns if not c.primary_key} ^ set(EVENT_COLUMNS)
        if missing:  # pragma: no cover - caught by the test suite when the model changes
            raise RuntimeError(f"events columns and EVENT_COLUMNS differ: {sorted(missing)}")
        self.limits = [
            (EVENT_COLUMNS.index(name), name, limit)
            for name, limit in _string_limits(self.events).items()
        ]
        self.insert_rejects = insert_ignoring_conflicts(engine, self.rejects)
        self.insert_deliveries = insert_ignoring_conflicts(engine, self.deliveries)
        self.convert = self._converter()
        self.tokens = options.kind in ("set", "events")
        self.verified: bool | None = None
        self.signatures = NOT_APPLICABLE
        if options.kind in ("set", "events"):
            self.verified = options.verify is not None
            self.signatures = (
                "verified" if self.verified else f"NOT verified: {options.unverified_because}"
            )

    # -- conversion ---------------------------------------------------------------------------

    def _converter(self) -> Callable[[Any], UnifiedEvent]:
        kind, verify = self.options.kind, self.options.verify
        if verify is None or kind not in ("set", "events"):
            return converter(kind, self.options.v2)
        if kind == "set":

            def from_token(text: Any) -> UnifiedEvent:
                token = parse_compact(text)
                verify(token)
                return event_from_parsed(token)

            return from_token

        def from_record(record: Any) -> UnifiedEvent:
            token = token_of_record(record)
            try:
                verify(token)
            except Rejection as rejection:
                raise rejection.under("/request/payload") from None
            return event_from_record(record, token)

        return from_record

    def _values(self, event: UnifiedEvent, file_id: int | None, line: int, now: str) -> list[Any]:
        """``EVENT_COLUMNS`` values for ``event`` (times in the unified text form)."""
        values: list[Any] = [*event[:-1], self.verified, now, now, 1, file_id, file_id, line]
        for index, name, limit in self.limits:
            value = values[index]
            if value is not None and len(value) > limit:
                # Checked here so that no backend truncates (MariaDB's INSERT IGNORE would).
                raise Rejection(
                    Reason.SCHEMA, "", f"{name} is {len(value)} characters; the store keeps {limit}"
                )
        return values

    def _batches(
        self,
        local: str,
        name: str,
        file_id: int | None,
        resume_after: int,
        share: tuple[int, int] = (0, 1),
    ) -> Iterator[_Batch]:
        """Batches of records after line ``resume_after``, ready to write (producer side).

        With ``share = (k, n)`` this producer prepares only every n-th batch, starting with the
        k-th; the others it reads past, counting records so that its batch boundaries are the
        same as those of the producers preparing them.
        """
        mine, producers = share
        index = 0
        batch = _Batch()
        now = format_ms(datetime.now(UTC))
        size = self.batch_size
        with opened(local) as (stream, counter):
            for record in iter_records(
                name, stream, self.options.kind, max_bytes=self.options.max_bytes
            ):
                if record.line <= resume_after:
                    continue
                if batch.read >= size and record.line != batch.last_line:
                    if index % producers == mine:
                        batch.bytes_read = counter.consumed
                        yield self._prepared(batch)
                    batch, now = _Batch(), format_ms(datetime.now(UTC))
                    index += 1
                if index % producers == mine:
                    self._add(batch, record, file_id, now)
                else:  # another producer's: only what decides where the batch ends
                    batch.read += 1
                    batch.last_line = record.line
            batch.bytes_read = counter.consumed
        if batch.read and index % producers == mine:
            yield self._prepared(batch)

    def _prepared(self, batch: _Batch) -> _Batch:
        if not self.options.dry_run:
            self.writer.prepare(batch)
        return batch

    def _add(self, batch: _Batch, record: Record, file_id: int | None, now: str) -> None:
        if not batch.read:
            batch.first_line = record.line
        batch.read += 1
        batch.last_line = record.line
        rejection = record.error
        if rejection is None:
            try:
                event = self.convert(record.value)
                # JSON must escape U+0000, so a record without "\u0000" cannot hold one; a
                # token's claims are base64 in the record, so their decoded form is looked into.
                if (b"\\u0000" in record.raw and _contains_nul(record.value)) or (
                    self.tokens and _contains_nul(event.payload)
                ):
                    raise Rejection(
                        Reason.SCHEMA,
                        "",
                        "contains U+0000, which PostgreSQL cannot store (refused on every backend)",
                    )
                row = self.writer.encode(self._values(event, file_id, record.line, now))
            except Rejection as exc:
                rejection = exc
            else:
                if event.event_id in batch.events:
                    batch.in_batch_duplicates += 1
                    return
                batch.events[event.event_id] = row
                if event.delivery is not None:
                    batch.deliveries.append(_delivery_row(event, now))
                return
        rejected = RejectedRecord.of(record, rejection)
        batch.rejects.append(
            {
                "file_id": file_id,
                "path": rejected.path,
                "line": rejected.line,
                "pointer": rejected.pointer,
                "reason": rejected.reason,
                "message": rejected.message,
                "raw": rejected.raw,
                "created_at": datetime.fromisoformat(now),
            }
        )

    # -- the ledger ---------------------------------------------------------------------------

    def _ledger_row(self, conn: sa.Connection, sha: str) -> Any:
        files = self.files
        query = sa.select(files).where(files.c.sha256 == sha, files.c.kind == self.options.kind)
        row = conn.execute(query).first()
        if row is None and self.options.etag:
            query = sa.select(files).where(
                files.c.etag == self.options.etag,
                files.c.kind == self.options.kind,
                files.c.status == COMPLETED,
            )
            row = conn.execute(query).first()
        return row

    def _open_ledger(self, path: str, sha: str) -> Any:
        """The file's ledger row, created as incomplete if this is the first time."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
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

    # -- loading ------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str]) -> IngestReport:
        report = IngestReport(verified=self.verified, signatures=self.signatures)
        for path in paths:
            report.files.append(self.ingest_file(path))
        return report

    def ingest_file(self, path: str) -> FileReport:
        with _materialised(path) as local:
            sha = sha256_of(local)
            name = display_name(path)
            if self.options.dry_run:
                return self._load(local, name, FileReport(name, sha), None, 0, recount=True)
            row = self._open_ledger(name, sha)
            if row.status == COMPLETED:
                if not self.options.force:
                    return FileReport(name, sha, already_ingested=True)
                # Forced re-read: count, insert nothing new, leave the ledger as it was.
                return self._load(local, name, FileReport(name, sha), row.id, 0, recount=True)
            report = FileReport(
                name,
                sha,
                read=row.read,
                inserted=row.inserted,
                duplicates=row.duplicates,
                rejected=row.rejected,
                resumed_from_line=row.last_line,
            )
            self._load(local, name, report, row.id, row.last_line, recount=False)
            with self.engine.begin() as conn:
                now = datetime.now(UTC)
                conn.execute(
                    sa.update(self.files)
                    .where(self.files.c.id == row.id)
                    .values(status=COMPLETED, completed_at=now, updated_at=now)
                )
            return report

    def _load(
        self,
        local: str,
        name: str,
        report: FileReport,
        file_id: int | None,
        resume_after: int,
        *,
        recount: bool,
    ) -> FileReport:
        progress = Progress(
            name, enabled=self.options.show_progress, total_bytes=os.path.getsize(local)
        )
        with self.engine.connect() as conn:
            if self.sqlite:
                _tune_sqlite(conn, ingesting=True)
            self.writer.open(conn)
            batches = self._producer(local, name, file_id, resume_after)
            try:
                span = _Span()
                for batch in batches:
                    # Reported here, not where the batch was made: a producer process's stderr
                    # is a copy, and its order would interleave with ours.
                    if self.options.on_reject is not None:
                        for reject in batch.rejects:
                            self.options.on_reject(_rejected_record(reject))
                    counts = self._write_batch(conn, batch, file_id, recount=recount, span=span)
                    report.read += batch.read
                    report.inserted += counts[0]
                    report.duplicates += counts[1]
                    report.rejected += len(batch.rejects)
                    progress.update(report.read, batch.bytes_read)
                self._commit_span(conn, span, file_id, recount=recount)
            finally:
                batches.close()  # the producer stops before its staging database goes
                self.writer.close(conn)
                if self.sqlite:
                    try:  # the connection goes back to the pool: with the engine's settings
                        _tune_sqlite(conn, ingesting=False)
                    except sa.exc.DBAPIError:
                        conn.invalidate()
                progress.close()
        return report

    def _producer(
        self, local: str, name: str, file_id: int | None, resume_after: int
    ) -> _Producer | _Interleaved:
        """Where batches are prepared: child processes for SQLite and PostgreSQL, else a thread.

        Parsing and preparing a record costs ~22 µs of Python; in the writer's process it would
        share one core with the writer through the GIL. A batch crosses the pipe as a staging
        file's name (SQLite) or one bytes object of ``COPY`` text (PostgreSQL), never as row
        objects to unpickle. SQLite's
        writer outruns one producer, so it gets two on a machine with more than one core;
        PostgreSQL's server-side insert is slower than one producer.
        """
        count = 0
        if not self.options.dry_run and _ProcessProducer.available():
            if self.sqlite:
                count = PRODUCERS if (os.cpu_count() or 1) > 1 else 1
            elif isinstance(self.writer, _PostgresWriter):
                count = 1
        if count:
            return _Interleaved(
                [
                    _ProcessProducer(
                        functools.partial(
                            self._batches, local, name, file_id, resume_after, (k, count)
                        )
                    )
                    for k in range(count)
                ]
            )
        return _Producer(self._batches(local, name, file_id, resume_after))

    def _write_batch(
        self,
        conn: sa.Connection,
        batch: _Batch,
        file_id: int | None,
        *,
        recount: bool,
        span: _Span,
    ) -> tuple[int, int]:
        """Write one batch; return ``(inserted, duplicates)``.

        On SQLite several batches share one transaction (a span, committed every
        ``commit_rows`` records or ``SPAN_SECONDS``): each commit rewrites every index page the
        span touched, and random event ids touch nearly all of them, so fewer, larger commits
        more than double the insert rate. Elsewhere each batch commits alone by default and is
        retried on a deadlock (it is idempotent).
        """
        converted = len(batch.events)
        if self.options.dry_run:
            inserted = self._count_new(conn, list(batch.events))
            return inserted, converted - inserted + batch.in_batch_duplicates
        if self.span_rows:
            if not span.read:  # the first batch of a new transaction
                if not conn.in_transaction():
                    conn.begin()
                span.start(batch.first_line)
            inserted = self._write_rows(conn, batch, file_id, recount=recount)
            span.add(batch, inserted, converted)
            if span.rows >= self.span_rows or span.age() >= SPAN_SECONDS or self.writer.full():
                self._commit_span(conn, span, file_id, recount=recount)
            return inserted, converted - inserted + batch.in_batch_duplicates
        for attempt in range(5):
            try:
                with conn.begin():
                    span.start(batch.first_line)
                    inserted = self._write_rows(conn, batch, file_id, recount=recount)
                    span.add(batch, inserted, converted)
                    self._commit_span(conn, span, file_id, recount=recount, commit=False)
                return inserted, converted - inserted + batch.in_batch_duplicates
            except sa.exc.OperationalError as exc:
                # Concurrent ingests of one file can deadlock on MariaDB; the batch is
                # idempotent, so it is simply retried. Anything else is the caller's to see.
                if attempt == 4 or not _is_retryable(exc):
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _write_rows(
        self, conn: sa.Connection, batch: _Batch, file_id: int | None, *, recount: bool
    ) -> int:
        inserted = self.writer.insert(conn, batch)
        if inserted < len(batch.events) and file_id is not None and not recount:
            self._mark_resighted(conn, list(batch.events), file_id, datetime.now(UTC))
        if batch.deliveries:
            conn.execute(self.insert_deliveries, batch.deliveries)
        if batch.rejects:
            conn.execute(self.insert_rejects, batch.rejects)
        return inserted

    def _commit_span(
        self,
        conn: sa.Connection,
        span: _Span,
        file_id: int | None,
        *,
        recount: bool,
        commit: bool = True,
    ) -> None:
        """Record the span's lines in the ledger, in the transaction that wrote them; commit."""
        if span.read and not recount and file_id is not None and not self.options.dry_run:
            self._advance_ledger(conn, span, file_id, datetime.now(UTC))
        if commit and conn.in_transaction():
            conn.commit()
            self.writer.committed(conn)
        span.reset()

    def _mark_resighted(
        self, conn: sa.Connection, ids: list[str], file_id: int, now: datetime
    ) -> None:
        """Bump ``seen_count`` of events seen before in another file (not rows just inserted)."""
        events = self.events
        conn.execute(
            sa.update(events)
            .where(
                events.c.event_id.in_(ids),
                sa.or_(events.c.last_file_id.is_(None), events.c.last_file_id != file_id),
            )
            .values(seen_count=events.c.seen_count + 1, last_seen_at=now, last_file_id=file_id)
        )

    def _advance_ledger(
        self, conn: sa.Connection, span: _Span, file_id: int, now: datetime
    ) -> None:
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
            )
        )

    def _count_new(self, conn: sa.Connection, ids: list[str]) -> int:
        """Dry run: how many of ``ids`` the store does not have yet (read only)."""
        if not ids:
            return 0
        if not sa.inspect(conn).has_table("events"):
            return len(ids)
        existing = conn.execute(
            sa.select(sa.func.count())
            .select_from(self.events)
            .where(self.events.c.event_id.in_(ids))
        ).scalar_one()
        return len(ids) - int(existing)


# SQLite page cache for an ingest connection, and how much one transaction may span (see
# Ingester._write_batch): together they decide how often index pages are rewritten.
SQLITE_CACHE_KIB = 16 * 1024
SQLITE_DEFAULT_CACHE_KIB = 2000  # SQLite's own default (-2000)
STAGE_CACHE_KIB = 256
# Producer processes on SQLite (with more than one core): parsing and staging a record costs
# more than writing it, so two producers keep one writer busy (see _Interleaved).
PRODUCERS = 2
BATCH = 1000
LARGE_BATCH = 5000
SPAN_ROWS = 50_000
SPAN_SECONDS = 3.0


def _tune_sqlite(conn: sa.Connection, *, ingesting: bool) -> None:
    """Settings for an ingest connection on SQLite, and back to the engine's when it is done.

    ``synchronous = NORMAL`` is safe for ingest: what commits together (events, rejects, resume
    point) is lost together, so a power cut only means resuming a little earlier.

    Foreign keys are not checked while ingesting: every row's ``first_file_id``/``last_file_id``
    is the ledger row this run just read, and a delivery row refers to an event of the same
    batch, so the two parent lookups per row (a fifth of the insert's cost) cannot find anything
    wrong. Tests run ``PRAGMA foreign_key_check`` after ingesting every kind of input.
    """
    if conn.in_transaction():
        conn.rollback()  # PRAGMA foreign_keys is a no-op inside a transaction
    conn.exec_driver_sql(f"PRAGMA foreign_keys = {'OFF' if ingesting else 'ON'}")
    conn.exec_driver_sql(f"PRAGMA synchronous = {'NORMAL' if ingesting else 'FULL'}")
    cache = SQLITE_CACHE_KIB if ingesting else SQLITE_DEFAULT_CACHE_KIB
    conn.exec_driver_sql(f"PRAGMA cache_size = -{cache}")
    conn.commit()


class _Span:
    """What the open transaction has written: the ledger advances by exactly this on commit."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first_line = 0
        self.last_line = 0
        self.read = self.inserted = self.duplicates = self.rejected = self.rows = 0
        self.started = time.monotonic()

    def start(self, first_line: int) -> None:
        self.reset()
        self.first_line = first_line

    def add(self, batch: _Batch, inserted: int, converted: int) -> None:
        self.last_line = batch.last_line
        self.read += batch.read
        self.inserted += inserted
        self.duplicates += converted - inserted + batch.in_batch_duplicates
        self.rejected += len(batch.rejects)
        self.rows += batch.read

    def age(self) -> float:
        return time.monotonic() - self.started


class _Producer:
    """Runs an iterator in a thread, handing its items over through a small queue."""

    _DONE = object()

    def __init__(self, source: Iterator[Any]) -> None:
        self.items: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self.thread.start()

    def _run(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.items.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class _ChildFailed:
    """An exception raised in the producer process, carried back to be raised in the parent."""

    def __init__(self, exc: BaseException) -> None:
        try:
            pickle.dumps(exc)
            self.exc = exc
        except Exception:  # an exception that cannot travel: keep its text
            self.exc = RuntimeError(f"{type(exc).__name__}: {exc}")


class _ProcessProducer:
    """Runs the batch iterator in a forked child process, handing batches over a pipe.

    The child never touches the parent's database connections, leaves with ``os._exit`` (so no
    finaliser closes them), stays at most ``AHEAD`` batches ahead, and ends itself if the parent
    dies (a parent killed with SIGKILL cannot tell it to).
    """

    AHEAD = 3
    _DONE = "done"

    @staticmethod
    def available() -> bool:
        # fork() copies only the calling thread: any lock another thread held (stdio,
        # logging) would stay locked forever in the child, so fork only a lone thread.
        return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1

    def __init__(self, source: Callable[[], Iterator[_Batch]]) -> None:
        context = multiprocessing.get_context("fork")
        self.receive, send = context.Pipe(duplex=False)
        self.slots = context.BoundedSemaphore(self.AHEAD)
        self.process = context.Process(
            target=_produce_in_child, args=(source, send, self.slots, os.getpid()), daemon=True
        )
        self.process.start()
        send.close()  # the child's end: EOF here once the child is gone

    def __iter__(self) -> Iterator[_Batch]:
        while True:
            try:
                item = self.receive.recv()
            except EOFError:
                raise RuntimeError(
                    f"the ingest producer process ended unexpectedly ({self.process.exitcode})"
                ) from None
            if item == self._DONE:
                return
            if isinstance(item, _ChildFailed):
                raise item.exc
            self.slots.release()  # each batch took a slot in the child
            yield item

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)
        self.receive.close()


class _Interleaved:
    """Batches from several producers, back in file order: batch i comes from producer i mod n.

    Every producer reads the whole input but prepares only its share (see
    ``Ingester._batches``), so parsing, validation and staging, the producer's costly part,
    spread over more cores while the writer still commits the file front to back (the ledger's
    resume point only ever advances over lines that are all written).
    """

    def __init__(self, producers: list[_ProcessProducer]) -> None:
        self.producers = producers

    def __iter__(self) -> Iterator[_Batch]:
        streams = [iter(p) for p in self.producers]
        while True:
            for stream in streams:
                batch = next(stream, None)
                if batch is None:  # the file ended here, so every later share is empty too
                    for rest in streams:
                        for _ in rest:  # a producer's failure is still raised
                            raise RuntimeError("an ingest producer prepared a batch past the end")
                    return
                yield batch

    def close(self) -> None:
        for producer in self.producers:
            producer.close()


def _produce_in_child(
    source: Callable[[], Iterator[_Batch]],
    send: multiprocessing.connection.Connection,
    slots: Any,
    parent: int,
) -> None:
    try:
        for batch in source():
            while not slots.acquire(timeout=0.2):
                if os.getppid() != parent:
                    os._exit(1)  # orphaned: the parent was killed
            send.send(batch)
        send.send(_ProcessProducer._DONE)
    except BaseException as exc:  # every failure is the parent's to report
        with contextlib.suppress(BaseException):
            send.send(_ChildFailed(exc))
    finally:
        send.close()


def _delivery_row(event: UnifiedEvent, now: str) -> dict[str, Any]:
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


def _rejected_record(row: dict[str, Any]) -> RejectedRecord:
    return RejectedRecord(
        row["path"], row["line"], row["pointer"], row["reason"], row["message"], row["raw"]
    )


def _contains_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _is_retryable(exc: sa.exc.OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "deadlock" in text or "database is locked" in text or "lock wait timeout" in text


def ingest_paths(engine: sa.Engine, paths: Sequence[str], options: IngestOptions) -> IngestReport:
    """Load ``paths`` into the store behind ``engine`` (already at the newest revision)."""
    return Ingester(engine, options).ingest(paths)
