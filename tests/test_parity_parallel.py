"""parity in two processes answers exactly as in one, and as the pairing itself does."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from parity_support import BASE, Ev, at, store_events
from sqlalchemy import Engine

from migrate.errors import StoreUnavailable
from migrate.parity import ParityOptions, parallel, run_parity
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
    # The forked worker's read fails as a store that stopped answering fails (a DBAPI error):
    # the user must get "cannot open the store" (exit 3), not an internal error (exit 70).
    store_events(store_engine, dual_running(5))
    real = parallel.read_counts

    def failing_in_the_worker(conn: Any, window: Any, tolerance: int, side: str, *a: Any) -> Any:
        if side == "from":
            raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real(conn, window, tolerance, side, *a)

    monkeypatch.setattr(parallel, "read_counts", failing_in_the_worker)
    with pytest.raises(StoreUnavailable, match="server closed the connection") as failed:
        run_parity(store_engine, ParityOptions(workers=2), now=NOW)
    assert failed.value.exit_code == 3
