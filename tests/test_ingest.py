"""Exactly-once ingest: counts add up, the ledger skips, re-reads change nothing, resumes are exact.

Runs on SQLite, and on PostgreSQL and MariaDB when their URLs are set (see conftest.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import export_claims as claims

from migrate.cli import cli
from migrate.errors import ProblemFound
from migrate.ingest import IngestOptions, IngestReport, ingest_paths, ingest_store
from migrate.ingest.copytext import copy_text_line
from migrate.ingest.files import sha256_of
from migrate.ingest.server import ServerIngester
from migrate.ingest.sqlite import SqliteIngester
from migrate.kinds import V2Options
from migrate.store import make_engine, open_store

FIXTURES = Path(__file__).parent / "fixtures"
CLI = [sys.executable, "-m", "migrate"]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def export_file(path: Path, numbers: list[int]) -> Path:
    return write_lines(path, [json.dumps(claims(n)) for n in numbers])


def ingest(url: str, paths: list[Path], **options: Any) -> IngestReport:
    engine = open_store(url)
    try:
        kind = options.pop("kind", "export")
        return ingest_paths(engine, [str(p) for p in paths], IngestOptions(kind=kind, **options))
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, Any]:
    """What the store holds, without ids and wall-clock times (which differ between runs)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            files = {
                row.id: row.sha256
                for row in conn.execute(sa.text("SELECT id, sha256 FROM ingest_files"))
            }
            events = sorted(
                (r.event_id, r.seen_count, r.first_line, files.get(r.first_file_id))
                for r in conn.execute(
                    sa.text("SELECT event_id, seen_count, first_line, first_file_id FROM events")
                )
            )
            rejects = sorted(
                (r.path, r.line, r.pointer, r.reason)
                for r in conn.execute(sa.text("SELECT path, line, pointer, reason FROM rejects"))
            )
            ledger = sorted(
                tuple(r)
                for r in conn.execute(
                    sa.text(
                        "SELECT sha256, kind, status, last_line, `read`, inserted, duplicates,"
                        " rejected FROM ingest_files".replace(
                            "`", '"' if engine.dialect.name != "mysql" else "`"
                        )
                    )
                )
            )
    finally:
        engine.dispose()
    return {"events": events, "rejects": rejects, "ledger": ledger}


def assert_adds_up(report: IngestReport) -> None:
    for f in report.files:
        assert f.read == f.inserted + f.duplicates + f.rejected, f
    assert report.read == report.inserted + report.duplicates + report.rejected


# -- counting and the ledger ---------------------------------------------------------------------


def test_every_line_is_inserted_duplicate_or_rejected(db_url: str, tmp_path: Path) -> None:
    lines = [
        json.dumps(claims(1)),
        "{not json",
        json.dumps(claims(2)),
        json.dumps(claims(1)),  # the same event again, in the same file
        json.dumps({**claims(3), "toe": "1559372000"}),
        json.dumps({**claims(4), "events": {"a": {}, "b": {}}}),
        "",
        json.dumps(claims(5)),
    ]
    report = ingest(db_url, [write_lines(tmp_path / "mixed.ndjson", lines)])
    assert_adds_up(report)
    (f,) = report.files
    assert (f.read, f.inserted, f.duplicates, f.rejected) == (7, 3, 1, 3)
    state = snapshot(db_url)
    assert [e[0] for e in state["events"]] == ["jti-000001", "jti-000002", "jti-000005"]
    assert [(line, pointer, reason) for _, line, pointer, reason in state["rejects"]] == [
        (2, "", "malformed_json"),
        (5, "/toe", "schema"),
        (6, "/events", "multiple_events"),
    ]
    (ledger,) = state["ledger"]
    assert ledger[2:] == ("completed", 8, 7, 3, 1, 3)


def test_same_file_twice_is_skipped_and_force_changes_nothing(db_url: str, tmp_path: Path) -> None:
    path = export_file(tmp_path / "export.ndjson", list(range(30)))
    first = ingest(db_url, [path], batch_size=7)
    assert (first.inserted, first.duplicates) == (30, 0)
    before = snapshot(db_url)

    again = ingest(db_url, [path])
    assert again.files[0].already_ingested
    assert again.read == 0
    # A copy under another name is the same file: the ledger knows it by content.
    copy = tmp_path / "copy.ndjson"
    copy.write_bytes(path.read_bytes())
    assert ingest(db_url, [copy]).files[0].already_ingested

    forced = ingest(db_url, [path], force=True, batch_size=7)
    assert_adds_up(forced)
    assert (forced.read, forced.inserted, forced.duplicates) == (30, 0, 30)
    assert snapshot(db_url) == before


def test_the_ledger_matches_on_content_and_refuses_an_etag_with_other_content(
    db_url: str, tmp_path: Path
) -> None:
    first = export_file(tmp_path / "a.ndjson", [1, 2])
    ingest(db_url, [first], etag='"33a64df5"')
    assert ingest(db_url, [first], etag='"33a64df5"').files[0].already_ingested
    # Same ETag, other content: refused with both hashes named, and nothing of it loaded.
    other = export_file(tmp_path / "b.ndjson", [1, 2, 3])
    before = snapshot(db_url)
    with pytest.raises(ProblemFound) as refused:
        ingest(db_url, [other], etag='"33a64df5"')
    assert sha256_of(str(first)) in str(refused.value)
    assert sha256_of(str(other)) in str(refused.value)
    assert snapshot(db_url) == before
    # The same content under another ETag (or none) is the same file.
    assert ingest(db_url, [first], etag='"other"').files[0].already_ingested


def test_etag_names_one_download(sqlite_url: str, tmp_path: Path) -> None:
    a = export_file(tmp_path / "a.ndjson", [1])
    b = export_file(tmp_path / "b.ndjson", [2])
    argv = ["ingest", "--from", "export", str(a), str(b), "--db", sqlite_url, "--etag", '"x"']
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    assert "--etag" in result.stderr
    result = CliRunner().invoke(cli, [*argv[:3], str(b), "--db", sqlite_url, "--etag", '"x"'])
    assert result.exit_code == 0
    result = CliRunner().invoke(cli, [*argv[:4], "--db", sqlite_url, "--etag", '"x"'])
    assert result.exit_code == 1
    assert "sha256" in result.stderr


@pytest.mark.parametrize(
    ("first", "second", "batch_size"),
    [
        (range(0, 20), range(10, 30), 6),  # one overlapping stretch
        # Stored and new events interleaved over many batches: PostgreSQL's direct COPY fails,
        # falls back to the staging table and is tried again eight batches later.
        (range(0, 40, 2), range(0, 60), 3),
    ],
)
def test_overlapping_files_give_the_union_and_count_resightings(
    db_url: str, tmp_path: Path, first: range, second: range, batch_size: int
) -> None:
    a = export_file(tmp_path / "a.ndjson", list(first))
    b = export_file(tmp_path / "b.ndjson", list(second))
    report = ingest(db_url, [a, b], batch_size=batch_size)
    assert_adds_up(report)
    both, union = set(first) & set(second), set(first) | set(second)
    assert [f.inserted for f in report.files] == [len(first), len(second) - len(both)]
    assert [f.duplicates for f in report.files] == [0, len(both)]
    events = snapshot(db_url)["events"]
    assert [e[0] for e in events] == [f"jti-{n:06d}" for n in sorted(union)]
    seen = {event_id: count for event_id, count, _, _ in events}
    assert all(seen[f"jti-{n:06d}"] == (2 if n in both else 1) for n in union)


def test_dry_run_counts_without_writing(sqlite_url: str, tmp_path: Path) -> None:
    ingest(sqlite_url, [export_file(tmp_path / "a.ndjson", [1, 2])])
    before = snapshot(sqlite_url)
    b = write_lines(tmp_path / "b.ndjson", [json.dumps(claims(n)) for n in (2, 3)] + ["nope"])
    report = ingest(sqlite_url, [b], dry_run=True)
    assert (report.read, report.inserted, report.duplicates, report.rejected) == (3, 1, 1, 1)
    assert snapshot(sqlite_url) == before


# -- every input kind ----------------------------------------------------------------------------


def test_events_store_records_keep_their_delivery_state(db_url: str) -> None:
    path = FIXTURES / "seed-events-record-wrapped-token.json"
    report = ingest(db_url, [path], kind="events")
    assert (report.inserted, report.rejected) == (1, 0)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        delivery = conn.execute(
            sa.text("SELECT event_id, record_id, state, attempts, status_code FROM deliveries")
        ).one()
    engine.dispose()
    assert tuple(delivery) == (
        "1e569bb5-c21d-4e9c-a1aa-7ec3b831bda2",
        "28da8068-61cc-4af3-8d5e-ae49a02dd47b",
        "success",
        1,
        200,
    )
    # Reading the same record again (a forced re-read) adds no second delivery row.
    ingest(db_url, [path], kind="events", force=True)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM deliveries")).scalar_one() == 1
    engine.dispose()


def test_v2_hash_mismatch_is_rejected_with_its_reason(db_url: str, tmp_path: Path) -> None:
    good = json.loads((FIXTURES / "seed-v2-payload.json").read_text())[0]
    bad = {**good, "hash": "0" * 40, "uuid": str(uuid.UUID(int=7))}
    path = write_lines(tmp_path / "v2.ndjson", [json.dumps([good, bad])])
    report = ingest(db_url, [path], kind="v2", v2=V2Options(kind="ADD", expected_hash=good["hash"]))
    assert (report.read, report.inserted, report.rejected) == (2, 1, 1)
    assert snapshot(db_url)["rejects"] == [(str(path), 1, "/1/hash", "hash_mismatch")]


def test_a_value_too_long_for_its_column_is_rejected_not_truncated(
    db_url: str, tmp_path: Path
) -> None:
    long_sub = {**claims(1), "events": {"entityCreated": {"sub": "s" * 300}}}
    long_type = {**claims(2), "events": {"x" * 300: {}}}
    path = write_lines(tmp_path / "long.ndjson", [json.dumps(long_sub), json.dumps(long_type)])
    report = ingest(db_url, [path])
    assert (report.inserted, report.rejected) == (0, 2)
    reasons = {(line, reason) for _, line, _, reason in snapshot(db_url)["rejects"]}
    assert reasons == {(1, "schema"), (2, "schema")}


AWKWARD_ATTRIBUTES = ["t\tab", "b\\s", "n\nl", "c\rr", "\\N", "é✓"]


def _writer_inputs(tmp_path: Path) -> list[tuple[str, Path]]:
    """One input of each kind, and values that COPY's text format must escape."""
    awkward = claims(7, event_type="entityUpdated")
    awkward["events"]["entityUpdated"]["attributes"] = AWKWARD_ATTRIBUTES
    return [
        ("events", FIXTURES / "seed-events-record-wrapped-token.json"),
        ("export", FIXTURES / "seed-export-line.ndjson"),
        ("v2", FIXTURES / "seed-v2-payload.json"),
        ("export", write_lines(tmp_path / "awkward.ndjson", [json.dumps(awkward)])),
    ]


TIME_SHAPE = re.compile(r"\d")


def _raw_store(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables ingest writes, as SQLite stores them (not as Python reads them).

    Ids and wall-clock times differ between runs by design: ids are dropped, and each such time
    is kept as its shape (digits zeroed), so its stored format is still compared.
    """
    tables = {  # table: (order, wall-clock columns)
        "events": ("event_id", ("first_seen_at", "last_seen_at")),
        "ingest_files": ("path", ("started_at", "updated_at", "completed_at")),
        "rejects": ("path, line", ("created_at",)),
        "deliveries": ("fingerprint", ("observed_at",)),
    }
    stored: dict[str, list[dict[str, Any]]] = {}
    engine = make_engine(url)
    with engine.connect() as conn:
        for table, (order, clock) in tables.items():
            query = f"SELECT * FROM {table} ORDER BY {order}"  # noqa: S608
            rows = [dict(r._mapping) for r in conn.exec_driver_sql(query)]
            for row in rows:
                for column in ("id", "first_file_id", "last_file_id", "file_id"):
                    row.pop(column, None)
                for column in clock:
                    row[column] = TIME_SHAPE.sub("0", row[column] or "")
            stored[table] = rows
    engine.dispose()
    return stored


def test_sqlite_fast_path_stores_exactly_what_sqlalchemy_would(tmp_path: Path) -> None:
    """The sqlite3-only ingest must be indistinguishable from SQLAlchemy's, table by table."""
    inputs = [*_writer_inputs(tmp_path), ("export", write_lines(tmp_path / "bad.ndjson", ["{"]))]
    # The same export twice, under two names: re-sightings and a completed ledger.
    again = tmp_path / "again.ndjson"
    again.write_bytes((FIXTURES / "seed-export-line.ndjson").read_bytes() + b"\n")
    inputs.append(("export", again))
    stored = []
    for how in ("lean", "engine", "sqlalchemy"):
        url = f"sqlite:///{tmp_path / how}.db"
        open_store(url).dispose()
        for kind, path in inputs:
            options = IngestOptions(kind=kind)
            if how == "lean":  # what the CLI does: no SQLAlchemy in the process that writes
                ingest_store(url, [str(path)], options)
                continue
            engine = make_engine(url)
            if how == "engine":  # the raw sqlite3 connection of an engine's pool
                ingest_paths(engine, [str(path)], options)
            else:  # the reference: SQLAlchemy Core and the models' own defaults
                ServerIngester(engine, options).ingest([str(path)])
            engine.dispose()
        stored.append(_raw_store(url))
    lean, through_engine, reference = stored
    assert [len(reference[t]) for t in reference] == [4, 6, 1, 1]
    assert any(e["seen_count"] == 2 for e in reference["events"])
    assert lean == reference
    assert through_engine == reference


# -- the property: any sequence of files ---------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=25),
        min_size=1,
        max_size=5,
    ),
    repeat=st.lists(st.integers(min_value=0, max_value=4), max_size=3),
    batch_size=st.integers(min_value=1, max_value=10),
    commit_rows=st.sampled_from([None, 1, 7, 30]),
)
def test_any_files_with_repeats_and_overlaps_store_the_distinct_events(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[list[int]],
    repeat: list[int],
    batch_size: int,
    commit_rows: int | None,
) -> None:
    work = tmp_path_factory.mktemp("prop")
    url = f"sqlite:///{work / 'store.db'}"
    paths = [export_file(work / f"f{i}.ndjson", numbers) for i, numbers in enumerate(files)]
    order = paths + [paths[i % len(paths)] for i in repeat]
    report = ingest(url, order, batch_size=batch_size, commit_rows=commit_rows)
    assert_adds_up(report)
    ledger = {row[0]: row[2:] for row in snapshot(url)["ledger"]}
    for f in report.files:
        if f.empty:  # no ledger row for a file with no records
            assert f.sha256 not in ledger
        elif not f.already_ingested:  # the ledger holds exactly what the run reported
            assert ledger[f.sha256] == (
                "completed",
                len(files[int(Path(f.path).stem[1:])]),
                f.read,
                f.inserted,
                f.duplicates,
                f.rejected,
            )
    distinct = {n for numbers in files for n in numbers}
    assert report.inserted == len(distinct)
    assert [e[0] for e in snapshot(url)["events"]] == sorted(f"jti-{n:06d}" for n in distinct)
    for f in report.files:
        if f.already_ingested:
            assert f.read == 0


# -- crashes and concurrency ---------------------------------------------------------------------


def _clean_run(tmp_path: Path, data: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'clean.db'}"
    ingest(url, [data], batch_size=40)
    return snapshot(url)


def _mixed_file(path: Path, count: int) -> Path:
    rng = random.Random(count)
    lines = []
    for n in range(count):
        lines.append(json.dumps(claims(n)) if rng.random() > 0.05 else f"broken line {n}")
        if rng.random() < 0.05:
            lines.append(json.dumps(claims(rng.randrange(n + 1))))  # a repeat
    return write_lines(path, lines)


def _ledger_state(url: str) -> tuple[str, int] | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("ingest_files"):
                return None
            row = conn.execute(sa.text("SELECT status, last_line FROM ingest_files")).first()
    finally:
        engine.dispose()
    return None if row is None else (row[0], row[1])


def _kill_and_resume(url: str, data: Path, rng: random.Random) -> None:
    """SIGKILL an ingest after some batches committed, at a random moment; then run it again."""
    argv = [*CLI, "ingest", "--from", "export", str(data), "--db", url, "--batch-size", "40"]
    argv += ["--commit-every", "200", "-q"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (state := _ledger_state(url)) is None or state == ("incomplete", 0):
        assert proc.poll() is None, "ingest ended before committing a batch"
        assert time.monotonic() < deadline, "ingest never committed a batch"
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _ledger_state(url)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: the file has rejected lines
    assert killed_at is not None
    assert killed_at[0] == "incomplete", "killed too late to matter"
    assert f"resumed after line {killed_at[1]}" in done.stdout or killed_at[1] == 0


@pytest.mark.parametrize("trial", range(3))
def test_killed_ingest_resumes_to_the_state_of_one_clean_run(tmp_path: Path, trial: int) -> None:
    data = _mixed_file(tmp_path / "data.ndjson", 20000)
    expected = _clean_run(tmp_path, data)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    _kill_and_resume(url, data, random.Random(trial))
    assert snapshot(url) == expected


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(40))
def test_killed_ingest_stress(tmp_path: Path, trial: int) -> None:
    data = _mixed_file(tmp_path / "data.ndjson", 40000)
    expected = _clean_run(tmp_path, data)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    rng = random.Random(1000 + trial)
    for _ in range(rng.randint(1, 3)):  # killed once or several times in a row
        if (state := _ledger_state(url)) is not None and state[0] == "completed":
            break
        _kill_and_resume(url, data, rng)
    assert snapshot(url) == expected


def test_two_concurrent_ingests_of_one_file(db_url: str, tmp_path: Path) -> None:
    open_store(db_url).dispose()  # migrate first, so both processes only load
    data = export_file(tmp_path / "data.ndjson", list(range(2000)))
    argv = [*CLI, "ingest", "--from", "export", str(data), "--db", db_url, "--batch-size", "50"]
    procs = [
        subprocess.Popen(
            [*argv, "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["read"] == report["inserted"] + report["duplicates"] + report["rejected"]
    events = snapshot(db_url)["events"]
    assert len(events) == 2000
    assert len({e[0] for e in events}) == 2000


# -- the command ---------------------------------------------------------------------------------


def test_cli_reports_json_and_exits_1_on_rejects(sqlite_url: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.ndjson", [json.dumps(claims(1)), "oops"])
    result = CliRunner().invoke(
        cli, ["ingest", "--from", "export", str(path), "--db", sqlite_url, "--format", "json"]
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["files"][0]["sha256"]
    assert report["read"] == 2
    assert (report["inserted"], report["duplicates"], report["rejected"]) == (1, 0, 1)
    assert f"{path}:2: (root):" in result.stderr
    assert "\r" not in result.stderr  # no progress display when not on a terminal


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "sqlite:////nonexistent-directory/store.db",  # opened without SQLAlchemy
    ],
)
def test_cli_unreachable_store_is_one_line_and_exit_3(tmp_path: Path, url: str) -> None:
    path = export_file(tmp_path / "x.ndjson", [1])
    result = CliRunner().invoke(cli, ["ingest", "--from", "export", str(path), "--db", url])
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Traceback" not in result.stderr
    assert "cannot open the store" in lines[0]


def test_cli_reads_stdin(sqlite_url: str, tmp_path: Path) -> None:
    data = export_file(tmp_path / "x.ndjson", [1, 2, 3]).read_bytes()
    argv = [*CLI, "ingest", "--from", "export", "-", "--db", sqlite_url, "--format", "json"]
    first = subprocess.run(argv, input=data, capture_output=True, check=True)
    assert json.loads(first.stdout)["inserted"] == 3
    second = subprocess.run(argv, input=data, capture_output=True, check=True)
    assert json.loads(second.stdout)["files"][0]["already_ingested"] is True


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_environment_names_the_store(tmp_path: Path) -> None:
    path = export_file(tmp_path / "x.ndjson", [1])
    env = {**os.environ, "WEBHOOKS_MIGRATE_DB": f"sqlite:///{tmp_path / 'env.db'}"}
    subprocess.run([*CLI, "ingest", "--from", "export", str(path), "-q"], env=env, check=True)
    assert (tmp_path / "env.db").exists()


def test_u0000_is_refused_alike_on_every_backend(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL cannot store U+0000 in text or JSONB; no backend may accept what another fails."""
    nul_claim = {**claims(1), "note": "a\u0000b"}
    lines = [json.dumps(nul_claim), json.dumps(claims(2)), '{"raw": "\x00 in a broken line']
    report = ingest(db_url, [write_lines(tmp_path / "nul.ndjson", lines)])
    assert (report.read, report.inserted, report.rejected) == (3, 1, 2)
    assert [e[0] for e in snapshot(db_url)["events"]] == ["jti-000002"]
    reasons = [(line, reason) for _, line, _, reason in snapshot(db_url)["rejects"]]
    assert reasons == [(1, "schema"), (3, "malformed_json")]


def _typed_rows(url: str) -> list[dict[str, Any]]:
    from migrate.store.models import Event

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(sa.select(Event).order_by(Event.event_id))]
    engine.dispose()
    for row in rows:  # what differs from run to run by design
        for column in ("id", "first_seen_at", "last_seen_at", "first_file_id", "last_file_id"):
            row.pop(column)
    return rows


def test_every_backend_stores_what_sqlalchemy_core_would(db_url: str, tmp_path: Path) -> None:
    """Each backend's fast writer (SQLite executemany, PostgreSQL COPY) against the Core insert."""
    inputs = _writer_inputs(tmp_path)
    reference = f"sqlite:///{tmp_path / 'core.db'}"
    for url, core in ((db_url, False), (reference, True)):
        engine = open_store(url)
        for kind, path in inputs:
            options = IngestOptions(kind=kind)
            if core:  # SQLAlchemy Core's insert, on SQLite
                ServerIngester(engine, options).ingest([str(path)])
            else:
                ingest_paths(engine, [str(path)], options)
        engine.dispose()
    stored, expected = _typed_rows(db_url), _typed_rows(reference)
    assert len(stored) == 4
    assert AWKWARD_ATTRIBUTES in [r["attributes"] for r in stored]
    assert stored == expected


def test_u0000_inside_a_token_is_refused_alike_on_every_backend(
    db_url: str, tmp_path: Path
) -> None:
    """The claims are base64 in the file: the check must look at them decoded."""

    def token(claims_: dict[str, Any]) -> str:
        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims_)}.c2ln"

    lines = [token({**claims(1), "note": "a\u0000b"}), token(claims(2))]
    report = ingest(db_url, [write_lines(tmp_path / "tokens.txt", lines)], kind="set")
    assert (report.read, report.inserted, report.rejected) == (2, 1, 1)
    assert [e[0] for e in snapshot(db_url)["events"]] == ["jti-000002"]
    assert [(line, reason) for _, line, _, reason in snapshot(db_url)["rejects"]] == [(1, "schema")]


# -- the fast paths' own guarantees -------------------------------------------------------------


def test_ingest_leaves_no_dangling_reference_and_gives_the_connection_back_as_it_was(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Foreign keys are not checked while SQLite ingests; nothing it writes may need them."""
    records = FIXTURES / "seed-events-record-wrapped-token.json"
    ingest_store(sqlite_url, [str(records)], IngestOptions(kind="events"))
    ingest(sqlite_url, [export_file(tmp_path / "a.ndjson", [1, 2, 3]), tmp_path / "a.ndjson"])
    engine = open_store(sqlite_url)
    try:
        ingest_paths(
            engine,
            [str(write_lines(tmp_path / "bad.ndjson", ["{", json.dumps(claims(4))]))],
            IngestOptions(kind="export"),
        )
        with engine.connect() as conn:  # the pooled connection the ingest used
            assert conn.connection.driver_connection.isolation_level == ""  # as pysqlite's
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            counts = [
                conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar()  # noqa: S608
                for t in ("events", "deliveries", "rejects")
            ]
    finally:
        engine.dispose()
    assert counts == [5, 1, 1]


def test_the_cli_loads_a_sqlite_store_without_importing_sqlalchemy(
    sqlite_url: str, tmp_path: Path
) -> None:
    """28 MiB and a sixth of a second saved in the process that writes (bench/ingest.py)."""
    open_store(sqlite_url).dispose()
    path = export_file(tmp_path / "a.ndjson", [1, 2, 3])
    argv = ["ingest", "--from", "export", str(path), "--db", sqlite_url, "--quiet"]
    code = (
        "import sys\n"
        "from migrate.cli import cli\n"
        f"cli({argv!r}, standalone_mode=False)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic'}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines()[-1] == "[]"
    assert len(snapshot(sqlite_url)["events"]) == 3


def test_a_new_sqlite_store_is_created_at_the_newest_revision_by_ingest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    report = ingest_store(
        url, [str(export_file(tmp_path / "a.ndjson", [1]))], IngestOptions("export")
    )
    assert report.inserted == 1
    engine = make_engine(url)
    try:
        from migrate.store.revision import at_head

        assert at_head(engine)
    finally:
        engine.dispose()


def test_a_dry_run_never_creates_or_changes_the_store(tmp_path: Path) -> None:
    store = tmp_path / "none.db"
    path = str(export_file(tmp_path / "a.ndjson", [1, 2]))
    dry = IngestOptions(kind="export", dry_run=True)
    report = ingest_store(f"sqlite:///{store}", [path], dry)
    assert (report.read, report.inserted, report.duplicates) == (2, 2, 0)
    assert not store.exists()
    ingest_store(f"sqlite:///{store}", [str(export_file(tmp_path / "b.ndjson", [2]))], dry)
    ingest_store(f"sqlite:///{store}", [str(tmp_path / "b.ndjson")], IngestOptions("export"))
    before = store.read_bytes()
    report = ingest_store(f"sqlite:///{store}", [path], dry)
    assert (report.read, report.inserted, report.duplicates) == (2, 1, 1)
    assert store.read_bytes() == before


def test_the_lengths_ingest_checks_are_the_models() -> None:
    from migrate.ingest.server import string_limits
    from migrate.store.models import Event
    from migrate.store.rows import EVENT_STRING_LIMITS

    assert string_limits(Event.__table__) == EVENT_STRING_LIMITS  # type: ignore[arg-type]


def test_new_sqlite_stores_get_16k_pages_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    import sqlite3

    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE t (x)")
    for path, expected in ((tmp_path / "new.db", 16384), (old, 4096)):
        ingest(f"sqlite:///{path}", [export_file(tmp_path / "a.ndjson", [1, 2])])
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA page_size").fetchone() == (expected,)
            assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (2,)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=30).map(str), st.sampled_from(["", " \t", "{x"])
        ),
        max_size=40,
    ),
    batch_size=st.integers(min_value=1, max_value=7),
    producers=st.integers(min_value=1, max_value=3),
    resume_after=st.integers(min_value=0, max_value=10),
)
def test_producer_shares_together_are_exactly_one_producers_batches(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
    batch_size: int,
    producers: int,
    resume_after: int,
) -> None:
    """Each of n producers prepares every n-th batch; together they prepare each batch once."""
    work = tmp_path_factory.mktemp("shares")
    path = write_lines(
        work / "f.ndjson", [json.dumps(claims(int(x))) if x.isdigit() else x for x in lines]
    )
    # A dry run stages nothing (and needs no store): the batches themselves are compared.
    options = IngestOptions(kind="export", batch_size=batch_size, dry_run=True)
    ingester = SqliteIngester(None, options)

    def batches(share: tuple[int, int]) -> list[tuple[Any, ...]]:
        return [
            (b.first_line, b.last_line, b.read, sorted(b.events), len(b.rejects))
            for b in ingester._batches(str(path), "f", 1, resume_after, share)
        ]

    whole = batches((0, 1))
    shares = [batches((k, producers)) for k in range(producers)]
    assert [shares[i % producers][i // producers] for i in range(len(whole))] == whole
    assert sum(len(s) for s in shares) == len(whole)
    assert sum(b[2] for b in whole) == sum(
        1 for n, x in enumerate(lines, 1) if x.strip() and n > resume_after
    )


def _parse_copy_text(line: str) -> list[str | None]:
    """PostgreSQL's reading of one COPY text line (the reference the writer must match)."""
    assert line.endswith("\n")
    assert line.count("\n") == 1
    out: list[str | None] = []
    for field in line[:-1].split("\t"):
        if field == "\\N":
            out.append(None)
            continue
        text, i = [], 0
        while i < len(field):
            if field[i] == "\\":
                text.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[field[i + 1]])
                i += 2
            else:
                text.append(field[i])
                i += 1
        out.append("".join(text))
    return out


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0")),
            st.text(alphabet="\\\t\n\rN ab"),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_copy_text_lines_read_back_as_the_values_written(row: list[Any]) -> None:
    expected = [
        None if v is None else ("t" if v else "f") if isinstance(v, bool) else str(v) for v in row
    ]
    assert _parse_copy_text(copy_text_line(row)) == expected
