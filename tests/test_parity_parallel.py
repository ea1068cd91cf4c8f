"""parity in two processes answers exactly as in one, and as the pairing itself does."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from parity_support import BASE, Ev, at, store_events
from sqlalchemy import Engine

from migrate.errors import StoreUnavailable
from migrate.parity import ParityOptions, reading, run_parity
from migrate.parity.parallel import split_point

NOW = BASE + timedelta(days=2)


def dual_running(seed: int, changes: int = 400) -> list[Ev]:
    rnd = random.Random(seed)
    events: list[Ev] = []
    for n in range(changes):
        # Entities that differ only by trailing spaces (one entity to MariaDB's collation,
        # two to parity) and events without an entity must land on the right side.
        entity = f"user-{rnd.randrange(changes // 4)}" + rnd.choice(["", "", "", " "])
        kind = rnd.choice(["entityCreated", "entityUpdated", "entityDeleted"])
        t = rnd.uniform(0, 86400)
        if rnd.random() < 0.3:  # a burst: changes of one entity within the tolerance
            t = rnd.choice([e.at for e in events] or [at(t)]).timestamp() - BASE.timestamp()
            t += rnd.uniform(-60, 60)
        roll = rnd.random()
        if roll > 0.05:
            events.append(Ev("v2", entity, rnd.choice([None, kind]), at(t)))
        if roll < 0.95:
            events.append(Ev("v3", entity, kind, at(t + rnd.uniform(-200, 200))))
        if n % 40 == 0:
            events.append(Ev(rnd.choice(["v2", "v3"]), None, "test", at(t)))
    return events


def test_two_processes_give_the_answer_of_one(store_engine: Engine) -> None:
    store_events(store_engine, dual_running(3))
    with store_engine.connect() as conn:
        boundary = split_point(conn, min_rows=0)
    assert boundary is not None
    assert boundary.startswith("user-")
    one = run_parity(store_engine, ParityOptions(workers=1), now=NOW).to_json()
    two = run_parity(store_engine, ParityOptions(workers=2), now=NOW).to_json()
    details = run_parity(store_engine, ParityOptions(details=True), now=NOW).to_json()
    details.pop("unmatched")
    assert two == one == details
    assert 0.5 < one["coverage"] < 1  # type: ignore[operator]


def test_a_small_store_is_read_in_one_process(store_engine: Engine) -> None:
    store_events(store_engine, dual_running(4, changes=40))
    with store_engine.connect() as conn:
        assert split_point(conn) is None  # fewer rows than MIN_ROWS
    assert run_parity(store_engine, now=NOW).to_json()["v2_total"]


def test_the_worker_losing_the_store_is_exit_3_not_a_bug(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The forked worker's driver cursor fails as a store that stopped answering fails (the
    # driver's own exception, which no SQLAlchemy hook sees): the user must get "cannot open
    # the store" (exit 3) naming it, not an internal error (exit 70).
    store_events(store_engine, dual_running(5))
    lost = {
        "sqlite": sqlite3.OperationalError("disk I/O error"),
        "postgresql": _driver_error("psycopg", "server closed the connection unexpectedly"),
        "mysql": _driver_error("pymysql", 2013, "Lost connection to server during query"),
        "mariadb": _driver_error("pymysql", 2013, "Lost connection to server during query"),
    }[store_engine.dialect.name]
    real = reading._cursor

    def failing_in_the_worker(conn: Any, family: str, **kw: Any) -> Any:
        return _FailingUpper(real(conn, family, **kw), lost)

    monkeypatch.setattr(reading, "_cursor", failing_in_the_worker)
    with pytest.raises(StoreUnavailable, match=str(lost.args[-1])) as failed:
        run_parity(store_engine, ParityOptions(workers=2), now=NOW)
    assert failed.value.exit_code == 3
    assert store_engine.url.database in str(failed.value)


def _driver_error(module: str, *args: Any) -> Exception:
    import importlib

    error: type[Exception] = importlib.import_module(module).OperationalError
    if module == "pymysql":
        error = importlib.import_module("pymysql.err").OperationalError
    return error(*args)


class _FailingUpper:
    """A driver cursor whose statement for the upper entities (the worker's) fails."""

    def __init__(self, cursor: Any, error: Exception) -> None:
        self._cursor, self._error = cursor, error

    def execute(self, sql: str, *args: Any) -> Any:
        if "entity_id >=" in sql:
            raise self._error
        return self._cursor.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Any:
        return iter(self._cursor)
