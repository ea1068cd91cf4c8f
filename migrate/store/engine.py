"""Engines for the store: one place that knows each backend's connection settings."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from migrate.defaults import DEFAULT_STORE_URL

DEFAULT_URL = DEFAULT_STORE_URL
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16384

# A bare backend name gets the driver the project depends on (the ``postgres``/``mysql`` extras).
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


class StoreUnavailable(exc.OperationalError):
    """The store cannot be opened. An ``OperationalError``, so the CLI exits 3 with one line."""

    def __init__(self, url: URL, cause: exc.DBAPIError) -> None:
        super().__init__(None, None, cause.orig if cause.orig is not None else cause)
        self.url = url
        self.cause = cause

    def __str__(self) -> str:
        reason = " ".join(str(self.cause.orig).split()) or type(self.cause.orig).__name__
        return f"cannot open the store {safe_url(self.url)}: {reason}"


def normalize_url(url: str | URL) -> URL:
    parsed = make_url(url)
    driver = _DEFAULT_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL as it may be shown: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def dumps_json(value: Any) -> str:
    """JSON columns: orjson for speed, the stdlib for what orjson refuses (ints past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, default=dict)


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with the store's settings for its backend.

    SQLite runs in WAL mode (the listener writes while ``ingest`` and reports read), waits up to
    30 s for a lock instead of failing at once, and enforces foreign keys, which it does not by
    default. Every backend pings pooled connections before use, so a restarted server does not
    fail the next command. JSON is read back with the stdlib parser, which keeps big integers.
    """
    parsed = normalize_url(url)
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        json_serializer=dumps_json,
        json_deserializer=json.loads,
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
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


def check_connection(engine: Engine) -> None:
    """Connect once, turning "cannot connect" into one readable :class:`StoreUnavailable`."""
    try:
        with engine.connect():
            pass
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise StoreUnavailable(engine.url, error) from error
