"""Database fixtures: an isolated, empty store database per test on SQLite, PostgreSQL, MariaDB.

``db_url`` runs a test on each backend. PostgreSQL and MariaDB come from
``WEBHOOKS_MIGRATE_TEST_POSTGRES_URL`` and ``WEBHOOKS_MIGRATE_TEST_MARIADB_URL`` (a server URL
with a user that may create databases); each test gets a fresh database on that server, dropped
afterwards. Without the variable the backend's tests are skipped, except under ``CI=true``,
where a missing URL or an unreachable server fails them: CI must not pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, exc, text
from sqlalchemy.engine import URL

from migrate.store import make_engine, open_store
from migrate.store.engine import normalize_url, safe_url

POSTGRES_ENV = "WEBHOOKS_MIGRATE_TEST_POSTGRES_URL"
MARIADB_ENV = "WEBHOOKS_MIGRATE_TEST_MARIADB_URL"
CONNECT_TIMEOUT_S = 5


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def backend_unavailable(message: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{message} (CI=true: every backend must run)", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class DatabaseServer:
    """A server on which tests create and drop their own databases."""

    url: URL
    admin: Engine  # AUTOCOMMIT: CREATE/DROP DATABASE cannot run in a transaction

    def database_url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)


def _server(env: str) -> Iterator[DatabaseServer]:
    raw = os.environ.get(env, "").strip()
    if not raw:
        backend_unavailable(f"{env} is not set")
    url = normalize_url(raw)
    admin = create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )
    try:
        with admin.connect():
            pass
    except exc.DBAPIError as error:
        admin.dispose()
        backend_unavailable(f"{env}: cannot connect to {safe_url(url)}: {error.orig}")
    yield DatabaseServer(url, admin)
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    yield from _server(POSTGRES_ENV)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DatabaseServer]:
    yield from _server(MARIADB_ENV)


def _test_database_name() -> str:
    return f"wm_test_{secrets.token_hex(6)}"


def _postgres_database(server: DatabaseServer) -> Iterator[str]:
    name = _test_database_name()
    with server.admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.database_url(name)
    finally:
        with server.admin.connect() as conn:
            # FORCE ends sessions a test left open (an engine not disposed), which would block.
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mariadb_database(server: DatabaseServer) -> Iterator[str]:
    name = _test_database_name()
    with server.admin.connect() as conn:
        # Deliberately not utf8mb4: the store's tables must not rely on the server's defaults.
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET latin1")
    try:
        yield server.database_url(name)
    finally:
        with server.admin.connect() as conn:
            leftovers = (
                conn.execute(
                    text("SELECT id FROM information_schema.processlist WHERE db = :name"),
                    {"name": name},
                )
                .scalars()
                .all()
            )
            for session_id in leftovers:
                # A session a test left open could hold locks that DROP DATABASE waits for.
                with server.admin.connect() as killer, contextlib.suppress(exc.DBAPIError):
                    killer.exec_driver_sql(f"KILL {int(session_id)}")  # unless it ended already
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A store URL for a SQLite file of its own (for tests that need only SQLite)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """The URL of an empty database of its own, on each backend in turn."""
    backend: str = request.param
    if backend == "sqlite":
        yield sqlite_url
    elif backend == "postgres":
        yield from _postgres_database(request.getfixturevalue("postgres_server"))
    else:
        yield from _mariadb_database(request.getfixturevalue("mariadb_server"))


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``, not migrated (its database is empty); disposed afterwards."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store_engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` upgraded to the newest revision; disposed afterwards."""
    engine = open_store(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="source-sqlite"),
        pytest.param("postgres", id="source-postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="source-mariadb", marks=pytest.mark.mariadb),
    ]
)
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second database of its own, on each backend in turn: a source to read from (a v2
    archive), apart from any store ``db_url`` gives."""
    yield from _source_database(request, request.param, tmp_path)


@pytest.fixture
def postgres_source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of its own to read from (see ``source_url``)."""
    yield from _source_database(request, "postgres", tmp_path)


def _source_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}"
    elif backend == "postgres":
        yield from _postgres_database(request.getfixturevalue("postgres_server"))
    else:
        yield from _mariadb_database(request.getfixturevalue("mariadb_server"))
