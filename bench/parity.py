"""parity against the floor of reading both streams once, on SQLite and PostgreSQL, in one run.

    .venv/bin/python bench/parity.py [--events 1000000] [--small 100000] [--rounds 2]
        [--postgres URL] [--check]

A store gets ``--events`` v2 and about as many v3 events, made as dual running makes them: each
change of an entity is one v2 notification and one v3 event of the same kind, times jittered
(mostly inside the 120 s tolerance, some outside), ~5 % v2-only, ~5 % v3-only, several changes
per entity; v2 kinds unknown for the first two of the seven days (an archive ingested without
``--v2-kind``) and known after (the listener's per-kind routes). Then, each in a fresh child
process (so peak RSS is its own):

* ``floor``: one ``SELECT entity_id, event_type, occurred_at ... WHERE source = ? ORDER BY
  entity_id, event_type, occurred_at`` per side on the bare driver (sqlite3, psycopg with a
  server-side cursor), rows fetched and discarded: what any pairing must at least read;
* ``parity``: ``migrate.parity.run_parity`` (bounds, the streamed read, the pairing, the report)
  as a user gets it: on two processes when the machine has two cores (a forked worker reads
  half the entities); ``parity 1p``: the same forced into one process (``workers=1``). Peak RSS
  is the sum of the process's and its worker's peaks;
* ``checklist``: ``migrate.checklist.run_checklist`` without API credentials.

The same is done on a store of ``--small`` events per side to show that memory does not grow
with the store. Targets: parity <= 1.5x the floor, <= 20 s on SQLite for 1M + 1M, peak RSS
<= 128 MiB and flat; checklist <= 1.5x parity. ``--check`` exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

KINDS = ("entityCreated", "entityUpdated", "entityUpdated", "entityUpdated", "entityDeleted")
TOLERANCE_S = 120
RSS_LIMIT_MIB = 128
TARGET_FLOOR_RATIO = 1.5
TARGET_SQLITE_S = 20.0
TARGET_CHECKLIST_RATIO = 1.5


# -- the data -------------------------------------------------------------------------------


def changes(count: int, seed: int = 14) -> list[tuple[str, Any, Any, datetime, datetime | None]]:
    """``(entity, v2 kind or None, v3 kind or None, v2 time, v3 time)``; a None kind: absent."""
    rnd = random.Random(seed)
    # The same data on every backend (in one run): an hour boundary, milliseconds as the
    # unified event has them.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=8)
    span = 7 * 86400
    entities = max(1, count // 4)
    out = []
    for _ in range(count):
        entity = str(uuid.UUID(int=rnd.randrange(entities) * 0x9E3779B97F4A7C15 % 2**128))
        kind = rnd.choice(KINDS)
        t2 = start + timedelta(milliseconds=rnd.randrange(span * 1000))
        roll = rnd.random()
        # The first two days came from the v2 archive, ingested without --v2-kind; the rest
        # through the listener's per-kind routes.
        v2_kind: Any = kind if t2 > start + timedelta(days=2) else None
        if roll < 0.05:  # v3 only
            out.append((entity, "absent", kind, t2, t2))
            continue
        if roll < 0.10:  # v2 only
            out.append((entity, v2_kind, "absent", t2, None))
            continue
        jitter = rnd.gauss(0, 30) if rnd.random() < 0.97 else rnd.uniform(-600, 600)
        out.append((entity, v2_kind, kind, t2, t2 + timedelta(milliseconds=round(jitter * 1000))))
    return out


def rows(count: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """v2 and v3 rows: (event_id, event_type, entity_id, occurred_at, payload)."""
    v2, v3 = [], []
    ids = random.Random(count)
    for entity, k2, k3, t2, t3 in changes(count):
        payload = json.dumps({"uuid": entity, "entity_type": "user", "pad": "x" * 120})
        if k2 != "absent":
            v2.append((str(uuid.UUID(int=ids.getrandbits(128))), k2, entity, t2, payload))
        if k3 != "absent" and t3 is not None:
            v3.append((str(uuid.UUID(int=ids.getrandbits(128))), k3, entity, t3, payload))
    return v2, v3


def _sqlite_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}000"


def load(url: str, count: int) -> tuple[int, int]:
    """Create the store at ``url`` (through the package's migrations) and load it."""
    from migrate.store import open_store

    open_store(url).dispose()
    v2, v3 = rows(count)
    now = datetime.now(UTC)
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        stamp = _sqlite_time(now)
        sql = (
            "INSERT INTO events (event_id, source, event_type, entity_id, occurred_at, audience,"
            " payload, signature_verified, first_seen_at, last_seen_at, seen_count)"
            " VALUES (?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, 1)"
        )
        for source, batch, verified in (("v2", v2, None), ("v3", v3, 1)):
            conn.executemany(
                sql,
                (
                    (e, source, k, ent, _sqlite_time(t), p, verified, stamp, stamp)
                    for e, k, ent, t, p in batch
                ),
            )
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(_driver_url(url)) as conn, conn.cursor() as cur:
            copy_sql = (
                "COPY events (event_id, source, event_type, entity_id, occurred_at, audience,"
                " payload, signature_verified, first_seen_at, last_seen_at, seen_count)"
                " FROM STDIN"
            )
            with cur.copy(copy_sql) as copy:
                for source, batch, verified in (("v2", v2, None), ("v3", v3, True)):
                    for e, k, ent, t, p in batch:
                        copy.write_row((e, source, k, ent, t, "[]", p, verified, now, now, 1))
            conn.commit()
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE events")
    return len(v2), len(v3)


def _driver_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


# -- what is timed (in a child process each) ----------------------------------------------------


def child(what: str, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if what == "floor":
        result["rows"] = floor(url)
    elif what == "startup":  # what parity pays before reading a row: imports, opening the store
        from migrate.parity import run_parity
        from migrate.store import open_store

        open_store(url, upgrade=False).dispose()
    elif what in ("parity", "parity1"):
        from migrate.parity import ParityOptions, run_parity
        from migrate.store import open_store

        engine = open_store(url, upgrade=False)
        report = run_parity(engine, ParityOptions(workers=1 if what == "parity1" else None))
        engine.dispose()
        result["report"] = {k: v for k, v in report.to_json().items() if k != "by_kind"}
    else:
        from migrate.checklist import ChecklistSettings, run_checklist

        verdict = run_checklist(url, ChecklistSettings(endpoint="https://l.example/v3"), env={})
        result["statuses"] = {c.id: c.status for c in verdict.checks}
    result["seconds"] = time.perf_counter() - started
    # Plus the peak of a forked worker, if any (ru_maxrss of waited-for children, in KiB).
    result["rss_mib"] = (
        peak_rss_mib() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    )
    return result


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


FLOOR_SQL = (
    "SELECT entity_id, event_type, occurred_at FROM events WHERE source = {mark}"
    " ORDER BY entity_id, event_type, occurred_at"
)


def floor(url: str) -> int:
    """Both sides read once, in parity's order, on the bare driver; rows discarded."""
    count = 0
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for source in ("v2", "v3"):
            for _ in conn.execute(FLOOR_SQL.format(mark="?"), (source,)):
                count += 1
        conn.close()
        return count
    import psycopg

    with psycopg.connect(_driver_url(url)) as conn:
        for source in ("v2", "v3"):
            with conn.cursor(name=f"floor_{source}") as cur:
                cur.itersize = 5000
                cur.execute(FLOOR_SQL.format(mark="%s"), (source,))
                for _ in cur:
                    count += 1
    return count


def run_child(what: str, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, "--db", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


# -- the run ----------------------------------------------------------------------------------


def measure(url: str, rounds: int) -> dict[str, dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):  # interleaved, best of each: the least disturbed by other load
        for what in ("floor", "startup", "parity1", "parity", "checklist"):
            got = run_child(what, url)
            if what not in best or got["seconds"] < best[what]["seconds"]:
                best[what] = got
    return best


def postgres_database(server: str, name: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    return url, admin


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="changes in the big store")
    parser.add_argument("--small", type=int, default=100_000, help="changes in the small store")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("WEBHOOKS_MIGRATE_TEST_POSTGRES_URL"))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db)))
        return

    work = tempfile.mkdtemp(prefix="bench-parity-")
    missed: list[str] = []
    answers: dict[str, dict[int, Any]] = {}
    backends = ["sqlite"] + ([] if args.no_postgres or not args.postgres else ["postgresql"])
    try:
        for backend in backends:
            results = {}
            for size in sorted({args.small, args.events}):
                admin = None
                if backend == "sqlite":
                    url = f"sqlite:///{work}/store-{size}.db"
                else:
                    url, admin = postgres_database(args.postgres, f"bench_parity_{size}")
                started = time.perf_counter()
                v2, v3 = load(url, size)
                print(
                    f"{backend}: loaded {v2:,} v2 + {v3:,} v3 events in "
                    f"{time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                results[size] = measure(url, args.rounds)
                if admin is not None:
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'DROP DATABASE "bench_parity_{size}" WITH (FORCE)')
                    admin.dispose()
            missed += report(backend, results, args.events)
            answers[backend] = {size: r["parity"]["report"] for size, r in results.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(answers) == 2:
        same = answers["sqlite"] == answers["postgresql"]
        print(f"same answer on SQLite and PostgreSQL: {same}")
        if not same:
            missed.append("SQLite and PostgreSQL disagree")
    if missed:
        print("missed: " + "; ".join(missed))
        if args.check:
            sys.exit(1)


def report(backend: str, results: dict[int, dict[str, dict[str, Any]]], big: int) -> list[str]:
    missed = []
    for size, best in sorted(results.items()):
        f, p1, p, c = best["floor"], best["parity1"], best["parity"], best["checklist"]
        ratio = p["seconds"] / f["seconds"]
        ratio1 = p1["seconds"] / f["seconds"]
        startup = best["startup"]["seconds"]
        cratio = c["seconds"] / p["seconds"]
        print(
            f"{backend} {size:>9,} changes: floor {f['seconds']:6.2f} s ({f['rows']:,} rows, "
            f"RSS {f['rss_mib']:.0f} MiB) | parity 1p {p1['seconds']:6.2f} s = {ratio1:.2f}x "
            f"floor, RSS {p1['rss_mib']:.0f} MiB | parity {p['seconds']:6.2f} s = {ratio:.2f}x "
            f"floor (limit {TARGET_FLOOR_RATIO}x), RSS {p['rss_mib']:.0f} MiB (both processes) | "
            f"checklist {c['seconds']:6.2f} s = {cratio:.2f}x parity (limit "
            f"{TARGET_CHECKLIST_RATIO}x), RSS {c['rss_mib']:.0f} MiB"
        )
        print(
            f"    startup (imports, opening the store) {startup:.2f} s; without it: parity 1p "
            f"{(p1['seconds'] - startup) / f['seconds']:.2f}x floor, parity "
            f"{(p['seconds'] - startup) / f['seconds']:.2f}x floor"
        )
        print(f"    parity: {json.dumps(p['report'])}")
        if p1["report"] != p["report"]:
            missed.append(f"{backend} {size}: one process and two disagree")
        if ratio > TARGET_FLOOR_RATIO:
            missed.append(f"{backend} {size}: parity {ratio:.2f}x the floor")
        if cratio > TARGET_CHECKLIST_RATIO:
            missed.append(f"{backend} {size}: checklist {cratio:.2f}x parity")
        if p["rss_mib"] > RSS_LIMIT_MIB:
            missed.append(f"{backend} {size}: parity RSS {p['rss_mib']:.0f} MiB")
        if backend == "sqlite" and size == big and p["seconds"] > TARGET_SQLITE_S:
            missed.append(f"sqlite {size}: parity {p['seconds']:.1f} s > {TARGET_SQLITE_S} s")
    sizes = sorted(results)
    if len(sizes) == 2:
        small, large = (results[s]["parity"]["rss_mib"] for s in sizes)
        growth = f"{small:.0f} MiB at {sizes[0]:,}, {large:.0f} MiB at {sizes[1]:,}"
        print(f"{backend}: parity RSS {growth}")
        if large > small * 1.15 + 4:
            missed.append(f"{backend}: RSS grows from {small:.0f} to {large:.0f} MiB")
    return missed


if __name__ == "__main__":
    main()
