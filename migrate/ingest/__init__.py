"""Idempotent, resumable loading of input files into the v3 store.

Exactly-once comes from three mechanisms that work the same on SQLite, PostgreSQL and MariaDB:

- Each batch is one insert that skips existing ``event_id``s (``INSERT OR IGNORE`` /
  ``ON CONFLICT DO NOTHING`` / ``INSERT IGNORE``): no per-row round trips, no read-before-write.
- The ledger (``ingest_files``) knows each file by its content (sha256): a completed file is not
  read again unless forced, and a forced re-read inserts nothing.
- Each batch commits its events, its rejects and the ledger's resume point together, so a run
  killed at any moment resumes after the last committed line and ends as one clean run would.

Every record read ends as inserted, duplicate, conflict (its event_id stored with a different
payload) or rejected: ``read = inserted + duplicates + conflicts + rejected``.

SQLite stores are written with the standard library alone (``migrate.ingest.sqlite``); the
others through SQLAlchemy (``migrate.ingest.server``). Importing this package imports neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from migrate.ingest.reports import (
    INGEST_KINDS,
    NO_KEY_SOURCE,
    FileReport,
    IngestOptions,
    IngestReport,
)
from migrate.kinds import TokenCheck

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "INGEST_KINDS",
    "NO_KEY_SOURCE",
    "FileReport",
    "IngestOptions",
    "IngestReport",
    "TokenCheck",
    "ingest_paths",
    "ingest_store",
]


def ingest_paths(engine: sa.Engine, paths: Sequence[str], options: IngestOptions) -> IngestReport:
    """Load ``paths`` into the store behind ``engine`` (already at the newest revision)."""
    if engine.dialect.name == "sqlite":
        from migrate.ingest.sqlite import ingest_on_engine

        return ingest_on_engine(engine, paths, options)
    from migrate.ingest.server import ServerIngester

    return ServerIngester(engine, options).ingest(paths)


def ingest_store(
    url: str, paths: Sequence[str], options: IngestOptions, *, upgrade: bool = True
) -> IngestReport:
    """Load ``paths`` into the store at ``url``, first bringing it to the newest revision unless
    ``upgrade=False``. A SQLite file is opened without SQLAlchemy; a dry run changes nothing."""
    from migrate.store.sqlite_native import sqlite_file
    from migrate.store.urls import check_store_url

    check_store_url(url)
    path = sqlite_file(url)
    if path is not None:
        from migrate.ingest.sqlite import ingest_sqlite_file

        return ingest_sqlite_file(path, url, paths, options, upgrade=upgrade)
    from migrate.store.engine import make_engine, open_store

    engine = make_engine(url) if options.dry_run else open_store(url, upgrade=upgrade)
    try:
        return ingest_paths(engine, paths, options)
    finally:
        engine.dispose()
