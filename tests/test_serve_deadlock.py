"""serve: a deadlock the server breaks (two writers with the same event_id at once, InnoDB's
duplicate-key locks) is told apart from other failures, so the listener runs the batch again
instead of answering 503. The deadlocks here are real: two connections lock two rows in
opposite orders."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from migrate.store.writes import is_deadlock


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    from conftest import _mariadb_database, _postgres_database

    if request.param == "postgres":
        yield from _postgres_database(request.getfixturevalue("postgres_server"))
    else:
        yield from _mariadb_database(request.getfixturevalue("mariadb_server"))


def _deadlock(url: str) -> list[BaseException]:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    both_hold_one = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO t VALUES (:k)"), {"k": first})
                both_hold_one.wait(timeout=10)
                conn.execute(sa.text("INSERT INTO t VALUES (:k)"), {"k": second})
        except sa.exc.DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=a) for a in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    return errors


def test_a_real_deadlock_is_recognised_and_other_errors_are_not(server_url: str) -> None:
    errors = _deadlock(server_url)
    assert len(errors) == 1, "the server rolls back exactly one of the two"
    assert is_deadlock(errors[0])
    assert is_deadlock(errors[0].orig)  # type: ignore[attr-defined]
    engine = sa.create_engine(server_url)
    try:
        with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as duplicate:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")  # a plain unique violation
    finally:
        engine.dispose()
    assert not is_deadlock(duplicate.value)
    assert not is_deadlock(ValueError("deadlock"))
