"""The listener's side of the store: one transaction per group of requests, durable on commit.

Rows are made and written by :mod:`migrate.store.writes` (the project's one writer); this module
only owns the connection and the transaction. SQLite is opened on the standard library in WAL
mode with ``synchronous=FULL`` (a 202 that a power cut could undo would be a lost event);
PostgreSQL with ``synchronous_commit = on`` in one statement per batch on a driver connection
of each writer thread's own (:mod:`migrate.store.writes_pg`: one round trip per commit);
MariaDB/MySQL through SQLAlchemy with its normal durable commit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from adapters.unified import UnifiedEvent
from migrate.store import writes, writes_pg
from migrate.store.revision import shipped_head
from migrate.store.sqlite_native import connect, connect_read_only, sqlite_file, stored_revision

fcntl: Any
try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one transaction writes: verified v3 events, v2 events, rejects."""

    v3: Sequence[UnifiedEvent] = ()
    v2: Sequence[UnifiedEvent] = ()
    rejects: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class Written:
    new: frozenset[str]
    """event_ids stored by this transaction (the others were stored before, or repeated)."""


class ListenerStore:
    """Writes batches in one transaction each; reconnects by itself after a failure.

    Used by one writer thread (:class:`migrate.serve.writer.GroupCommitter`); :meth:`ready` may
    be called from any thread (it uses a connection of its own).
    """

    READY_CACHE_S = 1.0
    DEADLOCK_RETRIES = 3

    def __init__(self, url: str, *, lock_timeout: float = 5.0) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self._path = sqlite_file(url)
        self._conn: sqlite3.Connection | None = None
        self._engine: Any = None
        self._ready_lock = threading.Lock()
        self._ready_at = 0.0
        self._ready = False
        self._turns: IO[bytes] | None = None
        self._turn_held = False  # by the one writer thread
        self._local = threading.local()  # PostgreSQL: each writer thread's driver connection
        self._raw_lock = threading.Lock()
        self._raw: list[Any] = []  # every such connection, closed by close()

    @property
    def backend(self) -> str:
        if self._path is not None:
            return "sqlite"
        return str(self._sa_engine().dialect.name)

    def write(self, batch: Batch) -> Written:
        """Commit ``batch`` or raise (nothing of it is then stored)."""
        if self._path is not None:
            return self._write_sqlite(batch)
        write = self._write_pg if self.backend == "postgresql" else self._write_sa
        retries = 0
        while True:
            try:
                return write(batch)
            except Exception as exc:
                # Two transactions with the same event_id (a duplicate delivered to two writers
                # at once) can deadlock on InnoDB's duplicate-key locks: the server rolls one
                # back, and running it again is the remedy its manual gives.
                retries += 1
                if retries > self.DEADLOCK_RETRIES or not writes.is_deadlock(exc):
                    raise
                time.sleep(0.002 * retries)  # the other transaction commits meanwhile

    def _sqlite(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self._path is not None
            conn = connect(self._path)
            conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
            conn.execute("PRAGMA synchronous = FULL")
            self._conn = conn
        return self._conn

    def _write_sqlite(self, batch: Batch) -> Written:
        conn = self._sqlite()
        with self.turn():
            return self._commit_sqlite(conn, batch)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """SQLite: this worker process's turn at the write lock (other backends: no wait).

        The listener's worker processes queue for SQLite's write lock on a file lock. SQLite
        itself makes a writer that finds the lock taken sleep and poll (1, 2, 5, 10 ms and
        longer): between two busy workers that adds tens of milliseconds to the requests
        waiting on a commit. ``flock`` wakes the next worker the moment the lock is free (and
        is released by the kernel if a worker dies). The group committer takes its batch once
        its turn has come, so what arrived while the other worker committed rides along.
        """
        if fcntl is None or self._path is None or self._turn_held:
            yield
            return
        if self._turns is None:
            self._turns = open(self._path + ".listener-lock", "ab")  # noqa: SIM115
        fcntl.flock(self._turns.fileno(), fcntl.LOCK_EX)
        self._turn_held = True
        try:
            yield
        finally:
            self._turn_held = False
            fcntl.flock(self._turns.fileno(), fcntl.LOCK_UN)

    def _commit_sqlite(self, conn: sqlite3.Connection, batch: Batch) -> Written:
        try:
            conn.execute("BEGIN IMMEDIATE")
            new = _write(conn, batch)
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT may leave the transaction open; a fresh connection next time.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._conn = None
            raise
        return Written(new)

    def _sa_engine(self) -> Any:
        if self._engine is None:
            from migrate.store.engine import make_engine

            self._engine = make_engine(self.url)
        return self._engine

    def _write_pg(self, batch: Batch) -> Written:
        raw = getattr(self._local, "raw", None)
        try:
            if raw is None:
                raw = self._pg_connection()
            with raw.driver_connection.cursor() as cursor:
                new = writes_pg.write_batch(
                    cursor, ((batch.v3, True), (batch.v2, None)), batch.rejects
                )
        except BaseException:
            # Whatever failed (the server went away, the statement), nothing of the batch is
            # stored (one statement, autocommit); a fresh connection next time.
            if raw is not None:
                self._drop_pg(raw)
            raise
        return Written(new)

    def _pg_connection(self) -> Any:
        # A driver connection of the engine's (its URL handling and connect settings), kept
        # checked out by this writer thread; autocommit, so the one statement is its own
        # transaction and commits before the server answers.
        raw = self._sa_engine().raw_connection()
        try:
            driver = raw.driver_connection
            driver.autocommit = True
            driver.execute("SET synchronous_commit = on")  # durable whatever the server says
        except BaseException:
            raw.invalidate()
            raise
        with self._raw_lock:
            self._raw.append(raw)
        self._local.raw = raw
        return raw

    def _drop_pg(self, raw: Any) -> None:
        self._local.raw = None
        with self._raw_lock:
            if raw in self._raw:
                self._raw.remove(raw)
        with contextlib.suppress(Exception):
            raw.invalidate()  # closed, never back in the pool with autocommit on

    def _write_sa(self, batch: Batch) -> Written:
        engine = self._sa_engine()
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Durable by default whatever the server's configuration says.
                conn.exec_driver_sql("SET LOCAL synchronous_commit = on")
            new = _write(conn, batch)
        return Written(new)

    def ready(self) -> bool:
        """The store is reachable and at the shipped head (cached for a second)."""
        with self._ready_lock:
            now = time.monotonic()
            if now - self._ready_at >= self.READY_CACHE_S:
                self._ready = self._check_ready()
                self._ready_at = now
            return self._ready

    def _check_ready(self) -> bool:
        try:
            if self._path is not None:
                conn = connect_read_only(self._path)
                if conn is None:
                    return False
                try:
                    return stored_revision(conn) == shipped_head()
                finally:
                    conn.close()
            from migrate.store.revision import at_head

            return at_head(self._sa_engine())
        except Exception:
            return False

    def close(self) -> None:
        if self._turns is not None:
            self._turns.close()
            self._turns = None
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        with self._raw_lock:
            raws, self._raw = self._raw, []
        for raw in raws:
            with contextlib.suppress(Exception):
                raw.invalidate()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _write(conn: Any, batch: Batch) -> frozenset[str]:
    new: set[str] = set()
    for events, verified in ((batch.v3, True), (batch.v2, None)):
        if events:
            result = writes.insert_events(conn, events, verified=verified)
            new.update(result.new)
            writes.count_resightings(conn, result.duplicates)
    writes.insert_rejects(conn, batch.rejects)
    return frozenset(new)
