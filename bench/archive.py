"""v2 archive benchmark: ``ingest --from v2-sql`` (a PostgreSQL source table) and ``--from v2-csv``
(the same rows as CSV) into new SQLite and PostgreSQL stores, normal and bulk mode, against a
plain sqlite3 loop inserting as many 8-column rows with one key in 10k-row batches.

Usage:
    .venv/bin/python bench/archive.py [--rows 1000000] [--small 100000] [--postgres URL]

Every run is its own process, timed and measured (peak RSS from wait4) the same way. Targets:
bulk into SQLite >= 0.85x the plain loop and >= 2x a normal ingest; peak RSS <= 96 MiB, flat
from ``--small`` to ``--rows``. Nothing here is a test: it prints numbers and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN / "webhooks-migrate")
MAP = ["--map", "uuid=user_uuid", "--map", "datetime=created_at", "--map", "kind=webhook_kind"]

FILL = """
CREATE TABLE v2_hooks (
    id bigint PRIMARY KEY, user_uuid text, entity_type text, created_at timestamptz,
    hash text, client_id text, webhook_kind text, extra text);
INSERT INTO v2_hooks
SELECT n, md5(n::text)::uuid::text, 'user',
       timestamptz '2020-01-01 00:00:00+00' + n * interval '1.379 second',
       'callback-hash-0123456789', 'client-' || (n % 97),
       (ARRAY['ADD', 'update', 'Delete'])[1 + n % 3], 'not mapped'
FROM generate_series(1, %(rows)s) AS n;
"""

PLAIN_LOOP = r"""
import csv, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, a, b, c, d, e, f, g)")
with open(sys.argv[2], newline="") as f:
    rows = csv.reader(f)
    next(rows)
    batch = []
    for r in rows:
        batch.append((r[1], r[0], r[2], r[3], r[4], r[5], r[6], r[7]))
        if len(batch) == 10000:
            conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            conn.commit()
            batch = []
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    conn.commit()
"""


def run(label: str, argv: list[str], rows: int) -> dict[str, float]:
    with tempfile.TemporaryFile() as errors:  # a pipe read only at the end could fill up
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        errors.seek(0)
        err = errors.read(4000).decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label} failed ({status}):\n{err}")
    rss = usage.ru_maxrss / 1024
    rate = rows / elapsed
    print(f"  {label:<46} {elapsed:8.2f} s {rate:>10,.0f} rows/s  peak RSS {rss:6.1f} MiB")
    return {"seconds": elapsed, "rate": rate, "rss_mib": rss}


def database(admin: str, action: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if action == "create":
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def url_of(admin: str, name: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(admin).set(database=name).render_as_string(hide_password=False)


def fill_source(url: str, rows: int, csv_path: Path) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute(FILL.replace("%(rows)s", str(int(rows))))
        conn.commit()
        with csv_path.open("wb") as out, conn.cursor() as cur:
            copy_sql = "COPY v2_hooks TO STDOUT WITH (FORMAT csv, HEADER)"
            with cur.copy(copy_sql) as copy:  # type: ignore[arg-type]
                for chunk in copy:
                    out.write(chunk)


def ingest(store: str, *args: str) -> list[str]:
    return [CLI, "ingest", "--db", store, "--quiet", *MAP, *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="rows for the RSS flatness")
    parser.add_argument("--postgres", default=os.environ.get("WEBHOOKS_MIGRATE_TEST_POSTGRES_URL"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("needs --postgres URL (or WEBHOOKS_MIGRATE_TEST_POSTGRES_URL)")
    work = Path(tempfile.mkdtemp(prefix="wm-archive-bench-"))
    tag = uuid.uuid4().hex[:8]
    source_db, store_db = f"wm_bench_src_{tag}", f"wm_bench_store_{tag}"
    database(args.postgres, "create", source_db)
    source = url_of(args.postgres, source_db)
    try:
        data = work / "v2_hooks.csv"
        t0 = time.perf_counter()
        fill_source(source, args.rows, data)
        size = data.stat().st_size / 2**20
        print(
            f"source: {args.rows:,} v2 rows in PostgreSQL and as CSV ({size:.0f} MiB), "
            f"made in {time.perf_counter() - t0:.1f} s"
        )
        n = args.rows
        sqlite = [f"sqlite:///{work / f'store-{i}.db'}" for i in range(6)]
        table = ["--from", "v2-sql", "--source", source, "--table", "v2_hooks"]
        print(f"into a new SQLite store ({n:,} rows):")
        plain = run(
            "limit: plain sqlite3 loop, 8 columns, 1 key",
            [sys.executable, "-c", PLAIN_LOOP, str(work / "plain.db"), str(data)],
            n,
        )
        csv_normal = run(
            "v2-csv, normal (--no-bulk)",
            ingest(sqlite[0], "--from", "v2-csv", str(data), "--no-bulk"),
            n,
        )
        csv_bulk = run(
            "v2-csv --bulk", ingest(sqlite[1], "--from", "v2-csv", str(data), "--bulk"), n
        )
        sql_normal = run("v2-sql, normal (--no-bulk)", ingest(sqlite[2], *table, "--no-bulk"), n)
        sql_bulk = run("v2-sql --bulk", ingest(sqlite[3], *table, "--bulk"), n)
        small_query = [
            "--from", "v2-sql", "--source", source, "--key", "id",
            "--query", f"SELECT * FROM v2_hooks WHERE id <= {int(args.small)}",  # noqa: S608
        ]  # fmt: skip
        small = run(
            f"v2-sql --bulk, first {args.small:,} rows",
            ingest(sqlite[4], *small_query, "--bulk"),
            args.small,
        )
        print(f"into a new PostgreSQL store ({n:,} rows):")
        database(args.postgres, "create", store_db)
        store = url_of(args.postgres, store_db)
        try:
            subprocess.run([CLI, "db", "upgrade", "--db", store], check=True, capture_output=True)
            pg_csv = run("v2-csv --bulk", ingest(store, "--from", "v2-csv", str(data), "--bulk"), n)
            database(args.postgres, "drop", store_db)
            database(args.postgres, "create", store_db)
            subprocess.run([CLI, "db", "upgrade", "--db", store], check=True, capture_output=True)
            pg_sql = run("v2-sql --bulk", ingest(store, *table, "--bulk"), n)
        finally:
            database(args.postgres, "drop", store_db)
        print("ratios (same run):")
        for label, bulk, normal in (
            ("v2-csv", csv_bulk, csv_normal),
            ("v2-sql", sql_bulk, sql_normal),
        ):
            print(
                f"  {label} bulk / plain loop {bulk['rate'] / plain['rate']:.2f}x (>= 0.85x)"
                f"   bulk / normal {bulk['rate'] / normal['rate']:.2f}x (>= 2x)"
            )
        print(
            f"  PostgreSQL store: v2-csv {pg_csv['rate']:,.0f} rows/s, "
            f"v2-sql {pg_sql['rate']:,.0f} rows/s"
        )
        peak = max(r["rss_mib"] for r in (csv_bulk, sql_bulk, csv_normal, sql_normal))
        print(
            f"  peak RSS {small['rss_mib']:.1f} MiB at {args.small:,} rows -> "
            f"{sql_bulk['rss_mib']:.1f} MiB at {n:,} (v2-sql); largest {peak:.1f} MiB "
            "(target <= 96 MiB, flat)"
        )
    finally:
        database(args.postgres, "drop", source_db)
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
