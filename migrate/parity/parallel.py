"""parity on two cores: the entities split in two halves, one read by a forked worker.

Pairs never cross entities, so counting the entities below a boundary and those from it (and,
apart, the events without an entity) and adding the counts up gives exactly the counts of one
reading (``tests/test_parity_parallel.py``). The boundary is the median ``entity_id``, in the
database's own order, of rows sampled evenly by primary key: it only balances the halves, any
boundary gives the same answer. The worker is a fork (:class:`migrate.forked.Forked`: it starts
with the imports and the window already made), opens its own connection (an inherited one is
never used or closed: see SQLAlchemy's ``Engine.dispose(close=False)`` and SQLite's note on
fork) and hands its counts back through a pipe. Where fork is missing, the machine has one core,
another thread runs, or the store is small, parity reads in one process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

from sqlalchemy import Connection, Engine

from migrate.forked import Forked
from migrate.parity.counting import Counts
from migrate.parity.reading import read_counts
from migrate.parity.window import Window

MIN_ROWS = 50_000
"""Below this many rows (by primary key range) a second process costs more than it saves."""
SAMPLES = 1024


def usable_workers() -> int:
    """2 when a forked worker can help: fork exists, a second core, no other thread."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 if (cores or 1) >= 2 else 1


def split_point(conn: Connection, min_rows: int = MIN_ROWS) -> str | None:
    """The median ``entity_id`` of evenly sampled rows, or None when the store is too small."""
    # Two statements: SQLite answers min() or max() alone from the primary key, both at once
    # by reading the table. Plain SQL: no ORM model (and its import time) on parity's path.
    low = conn.exec_driver_sql("SELECT min(id) FROM events").scalar()
    high = conn.exec_driver_sql("SELECT max(id) FROM events").scalar()
    if low is None or high is None or high - low + 1 < max(min_rows, 2):
        return None
    step = (high - low) / (SAMPLES - 1)
    ids = ", ".join(str(i) for i in sorted({low + round(k * step) for k in range(SAMPLES)}))
    found = (
        conn.exec_driver_sql(
            f"SELECT entity_id FROM events WHERE id IN ({ids})"  # noqa: S608 (integers of ours)
            " AND entity_id IS NOT NULL ORDER BY entity_id"
        )
        .scalars()
        .all()
    )
    return found[len(found) // 2] if found else None


def count_in_two(
    engine: Engine, window: Window, tolerance_us: int, *, min_rows: int = MIN_ROWS
) -> Counts | None:
    """The counts of every event in ``window``, read by two processes; None when it would not
    pay (the caller then reads in one)."""
    with engine.connect() as conn:
        boundary = split_point(conn, min_rows)
    if boundary is None:
        return None
    # The worker starts first; this process's share is the entities below the boundary and
    # the events without one.
    upper = Forked(functools.partial(_count_upper, engine, window, tolerance_us, boundary))
    try:
        with engine.connect() as conn:
            counts = read_counts(conn, window, tolerance_us, "null")
            counts.add(read_counts(conn, window, tolerance_us, "below", boundary))
    except BaseException:
        with contextlib.suppress(BaseException):  # waited for; this process's error is the one
            upper.result()
        raise
    counts.add(upper.result())
    return counts


def _count_upper(engine: Engine, window: Window, tolerance_us: int, boundary: str) -> Counts:
    """In the child: the entities from ``boundary`` on, on a connection of its own."""
    engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    # A store that stops answering is StoreUnavailable already (the engine's hook, the driver
    # cursor's in reading.py) and crosses to the parent as such: exit 3 there, not a bug.
    with engine.connect() as conn:
        return read_counts(conn, window, tolerance_us, "from", boundary)
