"""Engines for the store: one place that knows each backend's connection settings."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from adapters.jsontext import json_text
from migrate.defaults import DEFAULT_STORE_URL
from migrate.errors import StoreUnavailable, one_line, sqlite_unavailable
from migrate.store.sqlite_native import configure_sqlite
from migrate.store.urls import check_store_url

DEFAULT_URL = DEFAULT_STORE_URL

# A bare backend name gets the driver the project depends on (the ``postgres``/``mysql`` extras).
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


def normalize_url(url: str | URL) -> URL:
    if isinstance(url, str):
        check_store_url(url)
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
        hide_parameters=True,  # error messages never show bound values (tokens, payloads)
        json_serializer=json_text,
        json_deserializer=json.loads,
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "handle_error", _unavailable)
    return engine


def unavailable(url: URL, error: exc.DBAPIError) -> StoreUnavailable:
    """The one-line :class:`StoreUnavailable` for a driver's failure (never with a password)."""
    cause = error.orig if error.orig is not None else error
    return StoreUnavailable(safe_url(url), one_line(cause))


def _unavailable(context: Any) -> BaseException | None:
    """Engine errors that mean the store cannot be used become :class:`StoreUnavailable`.

    Failing to connect, losing the connection (not during a pre-ping, which reconnects) and
    SQLite's file and lock failures. Everything else stays the driver's error: a constraint
    (MariaDB reports some as OperationalError), a deadlock ingest retries, or a bug.
    """
    error = context.sqlalchemy_exception
    if getattr(context, "is_pre_ping", False):
        return None
    if context.is_disconnect or context.connection is None:
        return unavailable(context.engine.url, error)
    if isinstance(error, exc.InterfaceError):
        return unavailable(context.engine.url, error)
    sqlite = context.engine.dialect.name == "sqlite" and isinstance(error, exc.OperationalError)
    if sqlite and sqlite_unavailable(error.orig):  # its SQL errors stay: they are bugs
        return unavailable(context.engine.url, error)
    return None


def check_connection(engine: Engine) -> None:
    """Connect once: "cannot connect" raises one readable :class:`StoreUnavailable`."""
    with engine.connect():
        pass


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    configure_sqlite(dbapi_connection)


def open_store(url: str, *, upgrade: bool = True) -> Engine:
    """An engine on the store at ``url``, brought to the newest revision unless ``upgrade=False``.

    Raises :class:`StoreUnavailable` (the CLI exits 3 with one line) when the database cannot
    be reached.
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
