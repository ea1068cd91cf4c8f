"""Bulk mode: a load without the events' secondary indexes, built at the end, gives the store a
normal load gives (same rows, same indexes by ``db check``), also after a SIGKILL in the middle.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from strategies import export_claims as claims
from test_ingest import snapshot

from migrate import store
from migrate.cli import cli
from migrate.ingest.bulk import AUTO_BYTES, EVENT_INDEXES
from migrate.store.models import Base

CLI = [sys.executable, "-m", "migrate"]


def data_file(path: Path, count: int) -> Path:
    rng = random.Random(count)
    lines = []
    for n in range(count):
        lines.append(json.dumps(claims(n)) if rng.random() > 0.03 else f"broken line {n}")
        if rng.random() < 0.03:
            lines.append(json.dumps(claims(rng.randrange(n + 1))))  # a repeat
    path.write_text("".join(line + "\n" for line in lines))
    return path


def ingest(url: str, data: Path, *options: str) -> Any:
    result = CliRunner().invoke(
        cli, ["ingest", "--from", "export", str(data), "--db", url, "-q", *options]
    )
    assert result.exit_code in (0, 1), result.output
    return result


def indexes(url: str) -> set[str]:
    engine = store.make_engine(url)
    try:
        return {i["name"] for i in sa.inspect(engine).get_indexes("events") if i["name"]}
    finally:
        engine.dispose()


def test_the_indexes_it_defers_are_the_models() -> None:
    events = Base.metadata.tables["events"]
    model = {(i.name, tuple(c.name for c in i.columns)) for i in events.indexes if not i.unique}
    assert set(EVENT_INDEXES) == model


def test_a_bulk_load_gives_the_store_a_normal_load_gives(tmp_path: Path, db_url: str) -> None:
    data = data_file(tmp_path / "export.ndjson", 3000)
    normal = f"sqlite:///{tmp_path / 'normal.db'}"
    ingest(normal, data, "--no-bulk", "--batch-size", "500")
    ingest(db_url, data, "--bulk", "--batch-size", "500")
    assert snapshot(db_url) == snapshot(normal)
    assert store.check(db_url) == []
    assert {name for name, _ in EVENT_INDEXES} <= indexes(db_url)


def test_large_input_into_an_empty_store_chooses_bulk_mode(tmp_path: Path) -> None:
    from migrate.ingest import IngestOptions
    from migrate.ingest.bulk import deferred_indexes
    from migrate.ingest.sqlite import SqliteIngester
    from migrate.store.sqlite_native import connect

    url = f"sqlite:///{tmp_path / 's.db'}"
    store.upgrade(url)
    big = tmp_path / "big.ndjson"
    with big.open("wb") as f:
        f.truncate(AUTO_BYTES)  # only its size is looked at
    small = data_file(tmp_path / "small.ndjson", 10)
    conn = connect(str(tmp_path / "s.db"))
    try:
        ingester = SqliteIngester(conn, IngestOptions(kind="export"))
        with deferred_indexes(ingester, [str(big)]) as bulk:
            assert bulk
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert not present & {name for name, _ in EVENT_INDEXES}
        with deferred_indexes(ingester, [str(small)]) as bulk:
            assert not bulk
    finally:
        conn.close()
    assert store.check(url) == []
    ingest(url, small)
    conn = connect(str(tmp_path / "s.db"))
    try:
        ingester = SqliteIngester(conn, IngestOptions(kind="export"))
        with deferred_indexes(ingester, [str(big)]) as bulk:
            assert not bulk  # the store has events now
    finally:
        conn.close()


def _ledger_line(url: str) -> int:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("ingest_files"):
                return 0
            row = conn.execute(sa.text("SELECT last_line FROM ingest_files")).first()
    finally:
        engine.dispose()
    return 0 if row is None else int(row[0])


@pytest.mark.parametrize("then", ["db repair", "ingest"])
def test_a_bulk_load_killed_midway_ends_as_a_normal_load(
    tmp_path: Path, db_url: str, then: str
) -> None:
    data = data_file(tmp_path / "export.ndjson", 12000)
    normal = f"sqlite:///{tmp_path / 'normal.db'}"
    ingest(normal, data, "--no-bulk")
    argv = [*CLI, "ingest", "--from", "export", str(data), "--db", db_url, "-q", "--bulk"]
    argv += ["--batch-size", "100", "--commit-every", "200"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _ledger_line(db_url) < 1000:
        assert proc.poll() is None, "the load ended before it could be killed"
        assert time.monotonic() < deadline, "the load never committed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _ledger_line(db_url) < 12000, "killed too late to matter"
    # The store says what it lacks, and how to mend it.
    checked = CliRunner().invoke(cli, ["db", "check", "--db", db_url])
    assert checked.exit_code == 1
    assert "db repair" in checked.stderr
    if then == "db repair":
        repaired = CliRunner().invoke(cli, ["db", "repair", "--db", db_url, "--format", "json"])
        assert repaired.exit_code == 0, repaired.output
        assert sorted(json.loads(repaired.stdout)["built"]) == [n for n, _ in EVENT_INDEXES]
        assert store.check(db_url) == []
    ingest(db_url, data, "--bulk")  # resumes after the last commit
    assert snapshot(db_url) == snapshot(normal)
    assert store.check(db_url) == []
