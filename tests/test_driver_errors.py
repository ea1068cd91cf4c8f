"""A driver's own exception for a store that stopped answering is exit 3, not a bug (70).

Hot loops read and write on the driver's own cursors (parity's streamed read, ``COPY``), where
no SQLAlchemy ``handle_error`` hook turns a lost connection into ``StoreUnavailable``; the CLI's
one classification (``exit_code_of``) knows these exceptions by their driver's class and code.
Real connections are killed by the server here.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DatabaseServer
from sqlalchemy import text

from migrate.errors import EXIT_OPERATIONAL, EXIT_SOFTWARE, exit_code_of


def _raised(call: Any) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's own, whatever it is
        call()
    return caught.value


def _postgres(server: DatabaseServer) -> Any:
    import psycopg

    url = server.url
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    )


def _mariadb(server: DatabaseServer) -> Any:
    import pymysql

    url = server.url
    return pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
        database=url.database,
    )  # fmt: skip


def test_a_postgresql_connection_killed_by_the_server_is_exit_3(
    postgres_server: DatabaseServer,
) -> None:
    conn = _postgres(postgres_server)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with postgres_server.admin.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killed = _raised(lambda: conn.execute("SELECT 1"))
    assert exit_code_of(killed) == EXIT_OPERATIONAL, repr(killed)
    closed = _raised(lambda: conn.execute("SELECT 1"))  # and used again once it is closed
    assert exit_code_of(closed) == EXIT_OPERATIONAL, repr(closed)
    conn.close()


def test_a_postgresql_sql_error_stays_a_bug(postgres_server: DatabaseServer) -> None:
    conn = _postgres(postgres_server)
    try:
        assert exit_code_of(_raised(lambda: conn.execute("SELECT no_such_column"))) == EXIT_SOFTWARE
    finally:
        conn.close()


def test_a_mariadb_connection_killed_by_the_server_is_exit_3(
    mariadb_server: DatabaseServer,
) -> None:
    conn = _mariadb(mariadb_server)
    with conn.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (ident,) = cursor.fetchone()
    with mariadb_server.admin.connect() as admin:
        admin.execute(text(f"KILL {int(ident)}"))
    killed = _raised(lambda: conn.cursor().execute("SELECT 1"))
    assert exit_code_of(killed) == EXIT_OPERATIONAL, repr(killed)
    closed = _raised(lambda: conn.cursor().execute("SELECT 1"))
    assert exit_code_of(closed) == EXIT_OPERATIONAL, repr(closed)


def test_a_mariadb_sql_error_stays_a_bug(mariadb_server: DatabaseServer) -> None:
    conn = _mariadb(mariadb_server)
    try:
        for sql in ("SELECT no_such_column", "INSERT INTO no_such_table VALUES (1)"):
            error = _raised(lambda sql=sql: conn.cursor().execute(sql))
            assert exit_code_of(error) == EXIT_SOFTWARE, repr(error)
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["postgres", "mariadb"])
def test_a_real_deadlock_is_not_taken_for_a_lost_store(
    backend: str, request: pytest.FixtureRequest
) -> None:
    # psycopg raises a deadlock (SQLSTATE 40P01) as OperationalError too: the SQLSTATE decides.
    from conftest import _mariadb_database, _postgres_database
    from test_serve_deadlock import _deadlock

    make = _postgres_database if backend == "postgres" else _mariadb_database
    server = request.getfixturevalue(f"{backend}_server")
    for url in make(server):
        (error,) = _deadlock(url)
        assert exit_code_of(error.orig) != EXIT_OPERATIONAL, repr(error.orig)  # type: ignore[attr-defined]
