"""The SQLite events writer: batches staged by producers in files of their own, moved into
the store by one ``INSERT … SELECT`` each (see :class:`SqliteWriter`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from typing import Any

from adapters.unified import UnifiedEvent
from migrate.ingest.batch import Batch, sorted_rows
from migrate.store.rows import EVENT_COLUMNS
from migrate.store.writes import sqlite_event, sqlite_event_row

STAGE_CACHE_KIB = 256
STAGE_PREFIX = "webhooks-migrate-stage-"


class SqliteWriter:
    """Events insert on SQLite: batches staged by the producer, moved by one ``INSERT … SELECT``.

    Index maintenance is most of an insert's cost. Rows handed to the writer as Python objects
    would be pickled across a pipe and bound one by one in the writer's process. Here a producer
    (a child process) writes each batch into a small unindexed staging file of its own, and the
    writer attaches that file and moves the whole batch with one statement, while producers
    prepare the next batches on other cores.

    A file per batch, because the writer's transaction spans several batches (see
    ``Ingester._write_batch``) and would otherwise read a staging database at a fixed snapshot;
    a file is complete before it is attached. SQLite attaches at most ten databases, so a
    transaction spans at most ``MAX_ATTACHED`` batches; files are detached and deleted after
    each commit. Values are encoded exactly as the column types store them (a test compares
    them with the Core insert).
    """

    MAX_ATTACHED = 8

    def __init__(self) -> None:
        self.directory = ""
        self.attached: list[tuple[str, str]] = []

    def encode(self, values: list[Any]) -> Any:
        return sqlite_event(values)

    def encode_event(
        self,
        event: UnifiedEvent,
        *,
        verified: bool | None,
        file_id: int | None,
        line: int,
        now: str,
    ) -> Any:
        return sqlite_event_row(event, verified=verified, file_id=file_id, line=line, now=now)

    def open(self) -> None:
        _sweep_stale_stages()
        self.directory = tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-")
        self.attached = []

    def prepare(self, batch: Batch) -> None:
        """Producer side: write the batch's rows to a staging file; keep only their ids."""
        if not batch.events:
            return
        # Named by first line: producers working on shares of one file never collide.
        path = os.path.join(self.directory, f"batch-{batch.first_line}.db")
        rows, constants = _varying(sorted_rows(batch))
        staged = [name for name in EVENT_COLUMNS if name not in constants]
        stage = sqlite3.connect(path)
        try:
            # Scratch: a crash only loses what the ledger will have the next run redo.
            stage.execute("PRAGMA journal_mode = OFF")
            stage.execute("PRAGMA synchronous = OFF")
            stage.execute(f"CREATE TABLE rows ({', '.join(staged)})")
            marks = ", ".join("?" for _ in staged)
            stage.executemany(f"INSERT INTO rows VALUES ({marks})", rows)  # noqa: S608
            stage.commit()
        finally:
            stage.close()
        batch.stage_file = path
        batch.stage_constants = constants
        batch.events = dict.fromkeys(batch.events)  # ids stay for dedupe and re-sightings

    def insert(self, conn: sqlite3.Connection, batch: Batch) -> int:
        """Move the batch into events (its staged rows stay attached as ``last_schema``)."""
        if not batch.stage_file:
            return 0
        schema = f"stage{len(self.attached)}"
        conn.execute(f"ATTACH DATABASE ? AS {schema}", (batch.stage_file,))
        self.attached.append((schema, batch.stage_file))
        # Read once, front to back: a page cache of its own (2 MB by default, for each of up to
        # MAX_ATTACHED files) would only add to the writer's peak memory.
        conn.execute(f"PRAGMA {schema}.cache_size = -{STAGE_CACHE_KIB}")
        constants = batch.stage_constants
        # Table and column names come from our own metadata, never from input. The staging
        # table holds its rows sorted by event_id (see ``prepare``), so a plain scan writes the
        # unique index in order (fewer pages per batch) without an ORDER BY, whose sorter
        # would hold a whole batch in the writer's memory.
        picked = ", ".join("?" if name in constants else name for name in EVENT_COLUMNS)
        move = (
            f"INSERT OR IGNORE INTO main.events ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608
            f"SELECT {picked} FROM {schema}.rows"
        )
        values = [constants[name] for name in EVENT_COLUMNS if name in constants]
        return conn.execute(move, values).rowcount

    @property
    def last_schema(self) -> str:
        return self.attached[-1][0]

    def full(self) -> bool:
        return len(self.attached) >= self.MAX_ATTACHED

    def committed(self, conn: sqlite3.Connection) -> None:
        """After a commit (or rollback): detach and delete the batches just moved."""
        for schema, path in self.attached:
            conn.execute(f"DETACH DATABASE {schema}")
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.attached = []

    def close(self, conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.committed(conn)
        shutil.rmtree(self.directory, ignore_errors=True)


ALWAYS_STAGED = frozenset(("event_id", "source", "payload", "first_line"))
"""Columns staged even when a batch has one value for them: the writer's queries on a staged
batch (re-sightings, conflicts, upgrades) read them from the staging table."""


def _varying(rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """The rows with only the columns whose value varies within the batch, and the others'
    one value by name.

    Most columns of a batch hold one value (a v2 row fills 9 of the 26; the ledger id, the
    times of the load and the NULLs are the same in every row): staged, each would be bound,
    written and read back once per row. They are bound once, in the statement that moves the
    batch. A value is taken as the column's only one when every row holds an equal value of
    the same type (``1 == True``, but the store would keep them differently).
    """
    columns = list(zip(*rows, strict=True))
    constants: dict[str, Any] = {}
    keep: list[int] = []
    for i, (name, values) in enumerate(zip(EVENT_COLUMNS, columns, strict=True)):
        first = values[0]
        same = name not in ALWAYS_STAGED and values.count(first) == len(values)
        if same and not (first is None or first.__class__ is str):
            same = all(v.__class__ is first.__class__ for v in values)
        if same:
            constants[name] = first
        else:
            keep.append(i)
    if not constants:
        return rows, constants
    return list(zip(*(columns[i] for i in keep), strict=True)), constants


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
