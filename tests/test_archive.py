"""The v2 archive: ``ingest --from v2-csv`` (a dump with a header row) and ``--from v2-sql`` (the
database a v2 listener wrote), on real SQLite, PostgreSQL and MariaDB source tables made here.

Rows become the events their notifications become as JSON (same ids), every row is inserted, a
duplicate or rejected with its row named, a killed import resumes exactly, and the source is
never changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from adapters.v2 import event_from_v2
from migrate.cli import cli
from migrate.store import make_engine
from migrate.store.engine import normalize_url

CLI = [sys.executable, "-m", "migrate"]
MAP = ["--map", "uuid=user_uuid", "--map", "datetime=created_at", "--map", "kind=webhook_kind"]
KIND_TYPES = {"ADD": "entityCreated", "UPDATE": "entityUpdated", "DELETE": "entityDeleted"}


def notification(n: int, when: str | None = None) -> dict[str, str]:
    return {
        "uuid": str(uuid.UUID(int=n + 1)),
        "entity_type": "user",
        "datetime": when or f"2020-01-27T16:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z",
        "hash": "callback-hash",
        "client_id": "client-1",
    }


def json_id(value: dict[str, str]) -> str:
    """The id the notification gets arriving as JSON (``--from v2``)."""
    return event_from_v2(value).event_id


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def report(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def stored(url: str) -> dict[str, tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, event_type, entity_id FROM events"))
            return {r[0]: tuple(r[1:]) for r in rows}
    finally:
        engine.dispose()


def rejects(url: str) -> list[tuple[str, int, str, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT path, line, pointer, reason FROM rejects ORDER BY line")
            return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]
    finally:
        engine.dispose()


# -- the mixed rows every test loads: kinds in any case, NULLs, bad times, a repeat ---------------

GOOD = [(0, "add"), (1, "UPDATE"), (2, "Delete"), (3, None), (4, "ADD")]


def mixed_rows() -> list[dict[str, Any]]:
    """Rows of the hand-written listener's table: ``id`` and the mapped columns."""
    rows: list[dict[str, Any]] = []
    for n, kind in GOOD:
        v = notification(n)
        rows.append(row_of(len(rows) + 1, v, kind))
    rows.append(row_of(len(rows) + 1, notification(0), "add"))  # 6: the same notification again
    rows.append(row_of(len(rows) + 1, notification(6) | {"uuid": None}, "ADD"))  # 7: NULL uuid
    rows.append(row_of(len(rows) + 1, notification(7, "27/01/2020 16:00"), "ADD"))  # 8: bad time
    rows.append(row_of(len(rows) + 1, notification(8), "CREATE"))  # 9: not a kind
    rows.append(row_of(len(rows) + 1, notification(9) | {"client_id": None}, "ADD"))  # 10
    return rows


def row_of(key: int, value: dict[str, Any], kind: str | None) -> dict[str, Any]:
    return {
        "id": key,
        "user_uuid": value["uuid"],
        "entity_type": value["entity_type"],
        "created_at": value["datetime"],
        "hash": value["hash"],
        "client_id": value["client_id"],
        "webhook_kind": kind,
        "extra": "ignored",
    }


def expected_events() -> dict[str, tuple[Any, ...]]:
    return {
        json_id(notification(n)): (
            KIND_TYPES[kind.upper()] if kind else "entityUpdated",  # --v2-kind UPDATE
            notification(n)["uuid"],
        )
        for n, kind in GOOD
    }


def check_mixed_load(url: str, result: Result, path_of: Any) -> None:
    assert result.exit_code == 1, result.output
    counts = report(result)
    assert (counts["read"], counts["inserted"], counts["duplicates"], counts["rejected"]) == (
        10,
        5,
        1,
        4,
    )
    assert stored(url) == expected_events()
    assert rejects(url) == [
        (path_of(7), 7, "/user_uuid", "schema"),
        (path_of(8), 8, "/created_at", "schema"),  # as JSON: the schema refuses it
        (path_of(9), 9, "/webhook_kind", "schema"),
        (path_of(10), 10, "/client_id", "schema"),
    ]


# -- v2-csv ---------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_with_a_mapping_and_a_kind_column(tmp_path: Path, db_url: str) -> None:
    data = write_csv(tmp_path / "hooks.csv", mixed_rows())
    args = ["ingest", "--from", "v2-csv", str(data), "--db", db_url, *MAP, "--v2-kind", "UPDATE"]
    result = run(*args, "--format", "json")
    # The header is line 1: row N is on line N + 1.
    assert result.exit_code == 1, result.output
    counts = report(result)
    assert [counts[k] for k in ("read", "inserted", "duplicates", "rejected")] == [10, 5, 1, 4]
    assert stored(db_url) == expected_events()
    assert rejects(db_url) == [
        (str(data), 8, "/user_uuid", "schema"),
        (str(data), 9, "/created_at", "schema"),  # as JSON: the schema refuses it
        (str(data), 10, "/webhook_kind", "schema"),
        (str(data), 11, "/client_id", "schema"),
    ]
    assert f"{data}:9: /created_at: " in result.stderr
    again = run(*args, "--format", "json")
    assert report(again)["files"][0]["already_ingested"] is True


def test_csv_gzip_and_stdin_give_the_same_events(tmp_path: Path) -> None:
    rows = [row_of(n + 1, notification(n), "ADD") for n in range(20)]
    text = write_csv(tmp_path / "plain.csv", rows).read_text()
    packed = tmp_path / "hooks.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    from_gzip, from_stdin = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    assert run("ingest", "--from", "v2-csv", str(packed), "--db", from_gzip, *MAP).exit_code == 0
    piped = run("ingest", "--from", "v2-csv", "-", "--db", from_stdin, *MAP, input=text)
    assert piped.exit_code == 0, piped.output
    assert stored(from_gzip) == stored(from_stdin)
    assert set(stored(from_gzip)) == {json_id(notification(n)) for n in range(20)}


def test_csv_zoneless_times_need_naive_utc(tmp_path: Path) -> None:
    rows = [row_of(1, notification(0, "2020-01-27 16:00:01.5"), None)]
    data = write_csv(tmp_path / "dump.csv", rows)
    refused, taken = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    result = run("ingest", "--from", "v2-csv", str(data), "--db", refused, *MAP)
    assert result.exit_code == 1
    assert "without time zone" in result.stderr
    assert "--naive-utc" in result.stderr
    result = run("ingest", "--from", "v2-csv", str(data), "--db", taken, *MAP, "--naive-utc")
    assert result.exit_code == 0, result.output
    assert set(stored(taken)) == {json_id(notification(0, "2020-01-27T16:00:01.500Z"))}


def test_csv_from_postgresql_copy_keeps_its_short_offsets(tmp_path: Path) -> None:
    # COPY … TO … CSV writes a timestamptz as "2020-01-27 16:53:50.739+00" (hours only).
    rows = [row_of(1, notification(0, "2020-01-27 17:53:50.739+01"), None)]
    data = write_csv(tmp_path / "copy.csv", rows)
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = run("ingest", "--from", "v2-csv", str(data), "--db", url, *MAP)
    assert result.exit_code == 0, result.output
    assert set(stored(url)) == {json_id(notification(0, "2020-01-27T16:53:50.739Z"))}


def test_csv_misuse_is_a_usage_error(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "hooks.csv", mixed_rows())
    url = f"sqlite:///{tmp_path / 's.db'}"
    missing = run("ingest", "--from", "v2-csv", str(data), "--db", url)  # no uuid column
    assert missing.exit_code == 2
    assert "no column 'uuid'" in missing.stderr
    assert "--map uuid=COLUMN" in missing.stderr
    assert run("ingest", "--from", "v2-csv", str(data), "--db", url, "--map", "x=y").exit_code == 2
    assert run("ingest", "--from", "v2", str(data), "--db", url, *MAP).exit_code == 2
    assert run("convert", "--from", "v2-csv", str(data)).exit_code == 2
    assert run("validate", "--as", "v2-sql", str(data)).exit_code == 2


# -- v2-sql ---------------------------------------------------------------------------------------


def hooks_table(metadata: sa.MetaData, time_type: Any = None) -> sa.Table:
    return sa.Table(
        "v2_hooks",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_uuid", sa.String(64)),
        sa.Column("entity_type", sa.String(64)),
        sa.Column("created_at", time_type if time_type is not None else sa.String(64)),
        sa.Column("hash", sa.String(64)),
        sa.Column("client_id", sa.String(64)),
        sa.Column("webhook_kind", sa.String(16)),
        sa.Column("extra", sa.String(16)),
    )


def make_source(url: str, rows: list[dict[str, Any]], time_type: Any = None) -> None:
    engine = sa.create_engine(normalize_url(url))
    try:
        metadata = sa.MetaData()
        table = hooks_table(metadata, time_type)
        metadata.create_all(engine)
        with engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(table.insert(), rows[start : start + 10_000])
    finally:
        engine.dispose()


def checksum(url: str) -> str:
    """A digest of every row of the source table, in key order."""
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM v2_hooks ORDER BY id")).all()
    finally:
        engine.dispose()
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def source_args(url: str) -> list[str]:
    return ["--from", "v2-sql", "--source", url, "--table", "v2_hooks", *MAP]


def test_sql_table_with_a_mapping_kinds_nulls_bad_times(tmp_path: Path, source_url: str) -> None:
    make_source(source_url, mixed_rows())
    before = checksum(source_url)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = ["ingest", *source_args(source_url), "--db", store, "--v2-kind", "UPDATE"]
    result = run(*args, "--format", "json")
    name = report(result)["files"][0]["path"]
    assert "v2_hooks" in name
    check_mixed_load(store, result, lambda key: f"{name}[id={key}]")
    assert checksum(source_url) == before
    assert report(run(*args, "--format", "json"))["files"][0]["already_ingested"] is True


def test_sql_query_with_a_key(tmp_path: Path, source_url: str) -> None:
    make_source(source_url, mixed_rows())
    store = f"sqlite:///{tmp_path / 'store.db'}"
    query = "SELECT * FROM v2_hooks WHERE webhook_kind IS NOT NULL"
    base = ["ingest", "--from", "v2-sql", "--source", source_url, "--db", store, *MAP]
    assert run(*base, "--query", query).exit_code == 2  # a query needs --key
    result = run(*base, "--query", query, "--key", "id", "--format", "json")
    assert report(result)["read"] == 9  # row 4 has no kind


def test_sql_naive_timestamps_need_naive_utc(tmp_path: Path, source_url: str) -> None:
    import datetime as dt

    when = dt.datetime(2020, 1, 27, 16, 53, 50)  # MariaDB's DATETIME keeps no fraction
    make_source(source_url, [row_of(1, notification(0), "ADD") | {"created_at": when}], sa.DateTime)
    refused, taken = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    result = run("ingest", *source_args(source_url), "--db", refused)
    assert result.exit_code == 1
    assert "[id=1]:1: /created_at: created_at is a timestamp without time zone" in result.stderr
    assert stored(refused) == {}
    result = run("ingest", *source_args(source_url), "--db", taken, "--naive-utc")
    assert result.exit_code == 0, result.output
    # The id is the one the notification gets as JSON, however its time is spelled.
    assert set(stored(taken)) == {json_id(notification(0, "2020-01-27T16:53:50Z"))}


def test_sql_zoned_timestamps_are_taken_as_they_are(
    tmp_path: Path, postgres_source_url: str
) -> None:
    import datetime as dt

    when = dt.datetime(2020, 1, 27, 17, 53, 50, 739000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    rows = [row_of(1, notification(0), "ADD") | {"created_at": when}]
    make_source(postgres_source_url, rows, sa.DateTime(timezone=True))
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert run("ingest", *source_args(postgres_source_url), "--db", store).exit_code == 0
    assert set(stored(store)) == {json_id(notification(0, "2020-01-27T16:53:50.739Z"))}


def test_sql_misuse_is_a_usage_error(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(source, mixed_rows())
    store = f"sqlite:///{tmp_path / 'store.db'}"
    base = ["ingest", "--from", "v2-sql", "--db", store]
    assert run(*base, "--table", "v2_hooks").exit_code == 2  # no --source
    result = run(*base, "--source", source, "--table", "nope", *MAP)
    assert result.exit_code == 2
    assert "no such table" in result.stderr
    result = run(*base, "--source", source, "--table", "v2_hooks")
    assert result.exit_code == 2
    assert "--map uuid=COLUMN" in result.stderr
    result = run(*base, "--source", source, "--table", "v2_hooks", *MAP, "--key", "entity_type")
    assert result.exit_code == 2
    assert "appears twice" in result.stderr


def test_the_source_password_is_never_shown_or_stored(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(source, mixed_rows()[:2])
    from migrate.archive.source import SqlSource

    secret = SqlSource("postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:5432/archive", "t")
    assert "s3cr3t-pw" not in secret.name
    assert "***" not in secret.name
    other = SqlSource("postgresql+psycopg://reader:other-pw@127.0.0.1:5432/archive", "t")
    assert secret.identity == other.identity  # the password is not part of what it is
    refused = run(
        "ingest", "--from", "v2-sql", "--db", f"sqlite:///{tmp_path / 's.db'}",
        "--source", "postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:1/archive",
        "--table", "t", *MAP,
    )  # fmt: skip
    assert refused.exit_code == 3
    assert "s3cr3t-pw" not in refused.output


# -- every store, and resuming --------------------------------------------------------------------


def ledger(url: str) -> tuple[str, int, int] | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("ingest_files"):
                return None
            row = conn.execute(
                sa.text("SELECT status, last_line, inserted FROM ingest_files")
            ).first()
    finally:
        engine.dispose()
    return None if row is None else (row[0], row[1], row[2])


def many_rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(count)
    rows = []
    for n in range(count):
        value = notification(n)
        if rng.random() < 0.03:
            value = notification(rng.randrange(n + 1))  # a repeat
        elif rng.random() < 0.03:
            value = value | {"datetime": "yesterday"}
        rows.append(row_of(n + 1, value, rng.choice(["ADD", "update", None])))
    return rows


def killed_after_commits(source: str, store: str, count: int) -> tuple[str, int, int]:
    """The ledger of an import of ``source`` into ``store`` SIGKILLed after 400 rows committed."""
    argv = [*CLI, "ingest", *source_args(source), "--db", store, "-q"]
    argv += ["--batch-size", "50", "--commit-every", "100"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (state := ledger(store)) is None or state[1] < 400:
        assert proc.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline, "the import never committed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = ledger(store)
    assert killed is not None
    assert killed[0] == "incomplete"
    assert killed[1] < count
    return killed


def test_kill_and_resume_is_exact(tmp_path: Path, db_url: str) -> None:
    """SIGKILL the import after some commits; run it again: the store is as one clean run's."""
    count = 4000
    source = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(source, many_rows(count))
    before = checksum(source)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    assert run("ingest", *source_args(source), "--db", clean).exit_code == 1
    killed = killed_after_commits(source, db_url, count)
    resumed = run("ingest", *source_args(source), "--db", db_url, "--format", "json")
    assert resumed.exit_code == 1  # the bad times
    files = report(resumed)["files"]
    assert files[0]["resumed_from_line"] >= killed[1]
    assert files[0]["read"] == count
    assert stored(db_url) == stored(clean)
    assert [r[1:] for r in rejects(db_url)] == [r[1:] for r in rejects(clean)]
    assert ledger(db_url) == ("completed", count, ledger(clean)[2])  # type: ignore[index]
    assert checksum(source) == before


# -- a million rows in constant memory ------------------------------------------------------------


@pytest.mark.slow
def test_a_million_rows_stream_in_constant_memory(tmp_path: Path, postgres_source_url: str) -> None:
    from migrate.archive.source import SqlSource
    from migrate.kinds import V2Options, converter

    engine = sa.create_engine(normalize_url(postgres_source_url))
    with engine.begin() as conn:
        hooks_table(sa.MetaData()).create(conn)
        conn.exec_driver_sql(
            "INSERT INTO v2_hooks SELECT n, "
            "'00000000-0000-0000-0000-' || lpad(to_hex(n), 12, '0'), 'user', "
            "'2020-01-27T16:53:50.739Z', 'h', 'c', 'ADD', 'x' FROM generate_series(1, 1000000) n"
        )
    engine.dispose()
    source = SqlSource(postgres_source_url, "v2_hooks", columns=_map()).resolved()
    convert = converter("v2-sql", V2Options(columns=source.columns))
    peaks = []
    with source.records(None, 1) as (rows, _):
        import resource

        for n, record in enumerate(rows, 1):
            convert(record.value)
            if n in (100_000, 1_000_000):
                peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    assert n == 1_000_000
    assert peaks[1] - peaks[0] < 16 * 1024, peaks  # KiB: the table is never held


def _map() -> Any:
    from adapters.v2_rows import column_map

    return column_map({"uuid": "user_uuid", "datetime": "created_at", "kind": "webhook_kind"})
