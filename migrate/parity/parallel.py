"""parity on two cores: the entities split in two halves, one read by a forked worker.

Pairs never cross entities, so counting the entities below a boundary and those from it (and,
apart, the events without an entity) and adding the counts up gives exactly the counts of one
reading (``tests/test_parity_parallel.py``). The boundary is the median ``entity_id``, in the
database's own order, of rows sampled evenly by primary key: it only balances the halves, any
boundary gives the same answer. The worker is a fork (it starts with the imports and the
window already made), opens its own connection (an inherited one is never used or closed: see
SQLAlchemy's ``Engine.dispose(close=False)`` and SQLite's note on fork) and sends its counts
back through a pipe, as JSON. Where fork is missing, the machine has one core, another thread
runs, or the store is small, parity reads in one process.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from migrate.errors import StoreUnavailable
from migrate.parity.counting import Counts
from migrate.parity.reading import read_counts
from migrate.parity.window import Window
from migrate.store.engine import safe_url
from migrate.store.models import Event as EventRow

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
    # by reading the table.
    low = conn.execute(select(func.min(EventRow.id))).scalar()
    high = conn.execute(select(func.max(EventRow.id))).scalar()
    if low is None or high is None or high - low + 1 < max(min_rows, 2):
        return None
    step = (high - low) / (SAMPLES - 1)
    ids = sorted({low + round(k * step) for k in range(SAMPLES)})
    found = (
        conn.execute(
            select(EventRow.entity_id)
            .where(EventRow.id.in_(ids), EventRow.entity_id.is_not(None))
            .order_by(EventRow.entity_id)
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
        counts = read_counts(conn, window, tolerance_us, "null")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: the entities from the boundary on
        os.close(reader)
        _work(engine, window, tolerance_us, boundary, writer)  # never returns
    os.close(writer)
    try:
        with engine.connect() as conn:
            counts.add(read_counts(conn, window, tolerance_us, "below", boundary))
        with os.fdopen(reader, "rb") as pipe:
            reader = -1
            outcome, payload = json.loads(pipe.read() or b'["error", "no answer"]')
    finally:
        if reader >= 0:
            os.close(reader)
        _, status = os.waitpid(pid, 0)
    if outcome == "unavailable":  # the store stopped answering the worker: exit 3, not a bug
        raise StoreUnavailable(safe_url(engine.url), payload)
    if outcome != "ok" or status != 0:
        raise RuntimeError(f"parity's second process failed: {payload}")
    counts.add(Counts.from_json(payload))
    return counts


def _work(engine: Engine, window: Window, tolerance_us: int, boundary: str, writer: int) -> None:
    answer: tuple[str, Any]
    try:
        engine.dispose(close=False)  # the parent's pooled connections stay the parent's
        with engine.connect() as conn:
            answer = ("ok", read_counts(conn, window, tolerance_us, "from", boundary).to_json())
    except (DBAPIError, StoreUnavailable) as exc:
        answer = ("unavailable", str(getattr(exc, "orig", None) or exc).splitlines()[0])
    except BaseException as exc:  # reported to the parent, which raises
        answer = ("error", f"{type(exc).__name__}: {exc}")
    code = 0
    try:
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(json.dumps(answer).encode())
    except BaseException:
        code = 1
    os._exit(code)  # no atexit handlers, no finalizers of the parent's objects
