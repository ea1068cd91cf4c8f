"""Is there a store, and is it set up? Answered without creating or changing anything.

Connecting to a SQLite file that does not exist creates it: read-only commands (``status``,
``db current``) look first, and commands run with ``--no-upgrade`` learn that a store without
tables needs ``webhooks-migrate db upgrade`` rather than failing on ``no such table``.
"""

from __future__ import annotations

import os

from migrate.errors import Unavailable
from migrate.store.sqlite_native import (
    connect_read_only,
    has_table,
    sqlite_file,
    stored_revision,
)

UPGRADE_HINT = "run `webhooks-migrate db upgrade`"


class StoreNotReady(Unavailable):
    """The store cannot be read as one: it is missing or has no tables (the CLI exits 3)."""


class StoreMissing(StoreNotReady):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"no store at sqlite:///{path}: the file does not exist (nothing was created); "
            f"{UPGRADE_HINT} to create it, or name the store with --db"
        )
        self.path = path


class StoreNotSetUp(StoreNotReady):
    def __init__(self, shown_url: str) -> None:
        super().__init__(f"the store {shown_url} is not set up (it has no tables): {UPGRADE_HINT}")
        self.shown_url = shown_url


def sqlite_path(url: str) -> str | None:
    """The file a SQLite URL names (any form SQLAlchemy takes), else ``None``."""
    path = sqlite_file(url)
    if path is not None or not url.startswith("sqlite"):
        return path
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    return database[len("file:") :] if database.startswith("file:") else database


def missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file ``url`` names when that file does not exist."""
    path = sqlite_path(url)
    return path if path is not None and not os.path.exists(path) else None


def require_set_up(url: str) -> None:
    """Raise :class:`StoreMissing` or :class:`StoreNotSetUp` unless the store has its tables.

    Creates nothing: a SQLite file is opened read-only, a server database only read.
    """
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise StoreMissing(missing)
    path = sqlite_file(url)
    if path is not None:
        conn = connect_read_only(path)
        if conn is None:  # pragma: no cover - removed since we looked
            raise StoreMissing(path)
        try:
            set_up = stored_revision(conn) is not None or has_table(conn, "events")
        finally:
            conn.close()
        if not set_up:
            raise StoreNotSetUp(f"sqlite:///{path}")
        return
    from migrate.store.engine import check_connection, make_engine, safe_url
    from migrate.store.revision import stored_revision as stored_revision_of

    engine = make_engine(url)
    try:
        check_connection(engine)
        if stored_revision_of(engine) is None and not _has_events(engine):
            raise StoreNotSetUp(safe_url(url))
    finally:
        engine.dispose()


def _has_events(engine: object) -> bool:
    import sqlalchemy as sa

    assert isinstance(engine, sa.Engine)
    with engine.connect() as conn:
        return sa.inspect(conn).has_table("events")
