"""Engines for the store: one place that knows each backend's connection settings."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from migrate.defaults import DEFAULT_STORE_URL
from migrate.store.jsontext import dumps_json
from migrate.store.sqlite_native import configure_sqlite

DEFAULT_URL = DEFAULT_STORE_URL

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
        event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def check_connection(engine: Engine) -> None:
    """Connect once, turning "cannot connect" into one readable :class:`StoreUnavailable`."""
    try:
        with engine.connect():
            pass
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise StoreUnavailable(engine.url, error) from error


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    configure_sqlite(dbapi_connection)


def open_store(url: str, *, upgrade: bool = True) -> Engine:
    """An engine on the store at ``url``, brought to the newest revision unless ``upgrade=False``.

    Raises :class:`StoreUnavailable` (an ``OperationalError``: the CLI exits 3 with one line)
    when the database cannot be reached.
    """
    from migrate.store.revision import at_head

    engine = make_engine(url)
    try:
        check_connection(engine)
        if upgrade and not at_head(engine):
            from migrate.store.migrations import upgrade_if_behind

            upgrade_if_behind(engine)  # takes the migration lock and looks again
    except BaseException:
        engine.dispose()
        raise
    return engine
