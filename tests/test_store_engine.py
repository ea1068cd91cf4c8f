"""Engines and opening the store: backend settings, upgrades on open, clean connection errors."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from strategies import closed_port

from adapters.jsontext import json_text
from migrate import store
from migrate.errors import EXIT_OPERATIONAL, exit_code_of
from migrate.store.engine import normalize_url
from migrate.store.sqlite_native import sqlite_file


def test_sqlite_connections_get_wal_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    engine = store.make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("mysql://u@h/db", "mysql+pymysql://u@h/db?charset=utf8mb4"),
        ("mariadb://u@h/db", "mariadb+pymysql://u@h/db?charset=utf8mb4"),
        ("mysql+pymysql://u@h/db?charset=utf8", "mysql+pymysql://u@h/db?charset=utf8"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_urls_get_the_projects_drivers(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


def test_json_beyond_orjson_still_serialises() -> None:
    assert json_text({"big": 2**70, "ü": [1]}) == '{"big":1180591620717411303424,"ü":[1]}'
    assert json_text({"a": (1, 2)}) == '{"a":[1,2]}'


def test_open_store_upgrades_unless_told_not_to(db_url: str) -> None:
    engine = store.open_store(db_url, upgrade=False)
    try:
        assert store.current(engine) is None
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    engine = store.open_store(db_url)
    try:
        assert store.current(engine) == store.head()
    finally:
        engine.dispose()


def test_opening_a_store_at_head_takes_no_write_lock(sqlite_url: str) -> None:
    """``ingest`` holds SQLite's write lock while it loads; a listener must still open the store."""
    store.upgrade(sqlite_url)
    writer = store.make_engine(sqlite_url)
    done = threading.Event()
    try:
        with writer.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")

            def open_it() -> None:
                store.open_store(sqlite_url).dispose()
                done.set()

            thread = threading.Thread(target=open_it)
            thread.start()
            # Taking the write lock would wait the whole 30 s busy timeout.
            assert done.wait(timeout=10)
            thread.join()
            conn.exec_driver_sql("ROLLBACK")
    finally:
        writer.dispose()


def test_an_unreachable_store_is_one_line_without_the_password() -> None:
    port = closed_port()
    url = f"postgresql://webhooks:hunter2-secret@127.0.0.1:{port}/store"
    with pytest.raises(store.StoreUnavailable) as caught:
        store.open_store(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "hunter2" not in message
    assert message.startswith(
        f"cannot open the store postgresql+psycopg://webhooks:***@127.0.0.1:{port}/store: "
    )
    assert "refused" in message.lower()
    assert exit_code_of(caught.value) == EXIT_OPERATIONAL  # so the CLI exits 3


def test_a_sqlite_file_that_cannot_be_created_is_unavailable() -> None:
    with pytest.raises(store.StoreUnavailable, match="unable to open database file"):
        store.open_store("sqlite:////nonexistent-dir/for/sure/store.db")


@pytest.mark.parametrize(
    "url",
    ["sqlite:///rel.db", "sqlite:////abs/dir/x.db", "sqlite+pysqlite:///a b.db", "sqlite:///./x"],
)
def test_plain_sqlite_urls_name_the_file_sqlalchemy_would(url: str) -> None:
    assert sqlite_file(url) == make_url(url).database


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///x.db?mode=ro",
        "sqlite:///a%20b.db",
        "sqlite+aiosqlite:///x.db",
        "postgresql://host/db",
    ],
)
def test_other_urls_are_left_to_sqlalchemy(url: str) -> None:
    assert sqlite_file(url) is None


def test_importing_the_store_package_imports_no_sqlalchemy() -> None:
    # The listener's worker processes too: on SQLite they never load it (28 MiB each).
    code = (
        "import sys, migrate.store, migrate.ingest, migrate.store.writes_pg, migrate.serve.app;"
        " print('sqlalchemy' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


SECRET = "eyJ-a-bound-token-value-0123456789"


def test_engine_errors_never_show_the_bound_values(db_url: str) -> None:
    """A constraint or data error from the engine names the statement, never its parameters
    (they hold tokens and payloads); on every backend."""
    engine = store.make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE hidden (k VARCHAR(5), v VARCHAR(100) NOT NULL)"))
        with pytest.raises(sa.exc.DBAPIError) as caught, engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO hidden (k, v) VALUES (:k, :v)"), {"k": SECRET, "v": None}
            )
        assert isinstance(caught.value, sa.exc.IntegrityError | sa.exc.DataError)
        assert "INSERT INTO hidden" in str(caught.value)
        assert SECRET not in str(caught.value)
    finally:
        engine.dispose()
