"""Ingest benchmark: our `ingest` against sqlite-utils, a plain sqlite3 loop, and PostgreSQL COPY.

Usage:
    .venv/bin/python bench/ingest.py [--lines 200000] [--rss-lines 2000000] [--postgres URL]

Every tool runs as its own process on the same generated export file, so wall time and peak RSS
(from wait4) are measured the same way for all. Prints events/s, peak RSS and the ratios the
targets are stated in. Nothing here is a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

EVENT_TYPES = ["entityCreated", "entityUpdated", "entityDeleted", "userCredentialUpdated"]
ATTRIBUTES = ["familyName", "givenName", "email", "birthday", "primaryAddress", "displayName"]


def export_line(rng: random.Random, now: int) -> str:
    """One realistic bulk-export line (the shape of seed 000), randomised."""
    app = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=26))
    client = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))
    sub = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event_type = rng.choice(EVENT_TYPES)
    body: dict[str, object] = {
        "captureApplicationId": app,
        "captureClientId": client,
        "entityType": "user",
        "globalSub": f"capture-v1://us.janraincapture.com/{app}/user/{sub}",
        "sub": sub,
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    }
    if event_type == "entityUpdated":
        body["attributes"] = rng.sample(ATTRIBUTES, rng.randint(1, 3))
    if event_type == "userCredentialUpdated":
        body["credentialType"] = "password"
    iat = now - rng.randint(0, 7 * 86400)
    claims = {
        "iss": "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
        "iat": iat,
        "jti": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "aud": ["https://example.com/path/to/endpoint"],
        "txn": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "toe": iat * 1000 - rng.randint(0, 5000) if rng.random() < 0.3 else iat - rng.randint(0, 5),
        "events": {event_type: body},
    }
    return json.dumps(claims, separators=(",", ":"))


def generate(path: Path, lines: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    now = 1_700_000_000
    with path.open("w") as out:
        for _ in range(lines):
            out.write(export_line(rng, now) + "\n")


PLAIN_LOOP = r"""
import json, sqlite3, sys
db, path = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS events (jti TEXT PRIMARY KEY, payload TEXT NOT NULL)")
batch = []
with open(path, "rb") as f:
    for line in f:
        obj = json.loads(line)
        batch.append((obj["jti"], line))
        if len(batch) == 1000:
            conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?)", batch)
            conn.commit()
            batch = []
if batch:
    conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?)", batch)
    conn.commit()
"""

PG_COPY = r"""
import json, sys
import psycopg
url, path = sys.argv[1], sys.argv[2]
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute("DROP TABLE IF EXISTS bench_copy")
    conn.execute("CREATE TABLE bench_copy (jti text PRIMARY KEY, payload jsonb NOT NULL)")
    with conn.cursor() as cur, open(path, "rb") as f:
        with cur.copy("COPY bench_copy (jti, payload) FROM STDIN") as copy:
            for line in f:
                obj = json.loads(line)
                copy.write_row((obj["jti"], line.decode().rstrip("\n")))
    conn.execute("DROP TABLE bench_copy")
"""


def run(label: str, argv: list[str], lines: int) -> dict[str, float]:
    """Run one process; wall time and its own peak RSS (wait4 gives per-child usage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label} failed ({status}):\n{err}")
    rss_mib = usage.ru_maxrss / 1024
    rate = lines / elapsed
    shown = f"{rate:>10,.0f} events/s" if lines else " " * 19
    print(f"  {label:<40} {elapsed:8.2f} s {shown}  peak RSS {rss_mib:6.1f} MiB")
    return {"seconds": elapsed, "rate": rate, "rss_mib": rss_mib}


def ours(db_url: str, path: Path, *extra: str) -> list[str]:
    cli = str(BIN / "webhooks-migrate")
    return [cli, "ingest", "--from", "export", str(path), "--db", db_url, "--quiet", *extra]


def fresh_postgres_database(url: str) -> str:
    import sqlalchemy as sa

    name = f"wm_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.engine.make_url(url).set(database=name))


def drop_postgres_database(admin_url: str, db_url: str) -> None:
    import sqlalchemy as sa

    name = sa.engine.make_url(db_url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rss-lines", type=int, default=0, help="also run ours on this many lines")
    parser.add_argument("--postgres", default=os.environ.get("WEBHOOKS_MIGRATE_TEST_POSTGRES_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wm-bench-"))
    try:
        data = work / "export.ndjson"
        t0 = time.perf_counter()
        generate(data, args.lines)
        size = data.stat().st_size / 2**20
        took = time.perf_counter() - t0
        print(f"generated {args.lines:,} export lines ({size:.0f} MiB) in {took:.1f} s")
        print(f"SQLite ({args.lines:,} lines):")
        db = f"sqlite:///{work / 'ours.db'}"
        # The store is created once, before any load; timed on its own, not as part of a load.
        cli = str(BIN / "webhooks-migrate")
        run("webhooks-migrate db upgrade (new store)", [cli, "db", "upgrade", "--db", db], 0)
        first = run("webhooks-migrate ingest", ours(db, data), args.lines)
        again = run("  same file again (ledger skip)", ours(db, data), args.lines)
        forced = run("  same file again --force", ours(db, data, "--force"), args.lines)
        plain = run(
            "plain sqlite3 executemany loop",
            [sys.executable, "-c", PLAIN_LOOP, str(work / "plain.db"), str(data)],
            args.lines,
        )
        su_bin = BIN / "sqlite-utils"
        su = None
        if su_bin.exists():
            su = run(
                "sqlite-utils insert --nl --pk jti",
                [
                    str(su_bin),
                    "insert",
                    str(work / "su.db"),
                    "events",
                    str(data),
                    "--nl",
                    "--pk",
                    "jti",
                ],
                args.lines,
            )
        else:
            print("  sqlite-utils not installed: pip install sqlite-utils (or .[bench])")
        print("ratios:")
        print(
            f"  ours / plain loop          {first['rate'] / plain['rate']:.2f}x   (target >= 0.85x)"
        )
        if su is not None:
            print(
                f"  ours / sqlite-utils        {first['rate'] / su['rate']:.2f}x   (target >= 3x)"
            )
        skip, reread = again["seconds"], forced["rate"]
        print(f"  ledger skip: {skip:.2f} s; --force re-read: {reread:,.0f} events/s")
        if args.rss_lines:
            big = work / "export-big.ndjson"
            generate(big, args.rss_lines, seed=2)
            print(f"RSS flatness ({args.rss_lines:,} lines):")
            big_db = f"sqlite:///{work / 'big.db'}"
            run(
                "webhooks-migrate db upgrade (new store)", [cli, "db", "upgrade", "--db", big_db], 0
            )
            large = run("webhooks-migrate ingest", ours(big_db, big), args.rss_lines)
            small_rss, large_rss = first["rss_mib"], large["rss_mib"]
            print(
                f"  peak RSS {small_rss:.1f} MiB at {args.lines:,} -> {large_rss:.1f} MiB"
                f" at {args.rss_lines:,} (target <= 64 MiB, flat)"
            )
        if args.postgres:
            print(f"PostgreSQL ({args.lines:,} lines):")
            target = fresh_postgres_database(args.postgres)
            try:
                run(
                    "webhooks-migrate db upgrade (new store)",
                    [cli, "db", "upgrade", "--db", target],
                    0,
                )
                pg = run("webhooks-migrate ingest", ours(target, data), args.lines)
                copy = run(
                    "psycopg COPY (jti, payload jsonb)",
                    [sys.executable, "-c", PG_COPY, target.replace("+psycopg", ""), str(data)],
                    args.lines,
                )
            finally:
                drop_postgres_database(args.postgres, target)
            print(
                f"  ours / COPY                {pg['rate'] / copy['rate']:.2f}x   (target >= 0.5x)"
            )
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
