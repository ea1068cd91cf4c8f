"""SQLite stores opened with the standard library alone, for ``ingest``'s lean path.

SQLAlchemy costs 28 MiB and a sixth of a second just to import; the process that writes a bulk
load into SQLite needs neither (see ``migrate.ingest.sqlite``). Everything here agrees with the
engine ``make_engine`` builds: the same connection settings (one function, used by both), the
same file for the same URL, and the store's values encoded as SQLAlchemy's column types store
them (tests compare the two byte for byte).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from migrate.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16384
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
_SQLITE_SCHEMES = ("sqlite:///", "sqlite+pysqlite:///")


def configure_sqlite(dbapi_connection: Any) -> None:
    """Settings for every store connection, whoever opens it.

    WAL (the listener writes while ``ingest`` and reports read), a 30 s wait for a lock instead
    of failing at once, and foreign keys enforced, which SQLite does not do by default.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Takes effect only when the file is created (before WAL writes its header). Events rows
        # are over a kilobyte: 16 KiB pages hold a dozen instead of three, and bulk ingest into
        # them runs ~25% faster than into the default 4 KiB pages (bench/ingest.py).
        cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode = WAL")  # a no-op ("memory") for :memory:
    finally:
        cursor.close()


def sqlite_file(url: str) -> str | None:
    """The file a plain SQLite URL names, or ``None`` when SQLAlchemy must interpret the URL.

    Only the common forms are taken (``sqlite:///relative.db``, ``sqlite:////abs/path.db``):
    in-memory databases, query parameters and percent-escapes are left to SQLAlchemy, so that
    no URL means one file here and another there.
    """
    for scheme in _SQLITE_SCHEMES:
        if url.startswith(scheme):
            path = url[len(scheme) :]
            if not path or path == ":memory:" or "?" in path or "%" in path:
                return None
            return path
    return None


def _unavailable(path: str, cause: sqlite3.Error) -> StoreUnavailable:
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return StoreUnavailable(f"sqlite:///{path}", reason)


def connect(path: str) -> sqlite3.Connection:
    """A connection with the store's settings, in autocommit mode (transactions are explicit)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            configure_sqlite(conn)
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as error:
        raise _unavailable(path, error) from error
    return conn


def connect_read_only(path: str) -> sqlite3.Connection | None:
    """For dry runs: the store if its file exists, never creating one; ``None`` if it does not."""
    if not os.path.exists(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    except sqlite3.Error as error:
        raise _unavailable(path, error) from error
    return conn


def _uri_path(path: str) -> str:
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(query, (name,)).fetchone() is not None


def stored_revision(conn: sqlite3.Connection) -> str | None:
    """The Alembic revision the store records, ``None`` for a store never upgraded."""
    if not has_table(conn, VERSION_TABLE):
        return None
    rows = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()  # noqa: S608
    return str(rows[0][0]) if len(rows) == 1 else None


def stored_time(value: datetime) -> str:
    """An aware datetime as ``UTCDateTime`` keeps it in SQLite: UTC wall time, microseconds."""
    v = value.astimezone(UTC)
    # SQLAlchemy's SQLite DATETIME storage format, zero-padded the same way for every year.
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )
