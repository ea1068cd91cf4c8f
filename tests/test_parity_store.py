"""parity on a real store: windows, min-age, the command line, the same answer on every backend."""

from __future__ import annotations

import json
import random
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parity_support import BASE, Ev, at, store_events
from sqlalchemy import Engine

from migrate.cli import cli
from migrate.parity import ParityOptions, compare, run_parity
from migrate.parity.report import to_micros
from migrate.store import open_store

NOW = BASE + timedelta(days=2)
KEYS = {"v2_total", "v3_total", "matched", "v2_only", "v3_only", "coverage", "by_kind"}


def run(engine: Engine, **options: object) -> dict[str, object]:
    return run_parity(engine, ParityOptions(**options), now=NOW).to_json()  # type: ignore[arg-type]


def realistic(seed: int, changes: int = 300) -> list[Ev]:
    """Dual running: most changes in both streams, some in one only, times jittered."""
    rnd = random.Random(seed)
    events: list[Ev] = []
    for n in range(changes):
        entity = f"user-{rnd.randrange(changes // 4)}"
        kind = rnd.choice(["entityCreated", "entityUpdated", "entityUpdated", "entityDeleted"])
        t = rnd.uniform(0, 86400)
        roll = rnd.random()
        if roll > 0.05:  # not v3-only
            events.append(Ev("v2", entity, rnd.choice([None, kind]), at(t)))
        if roll < 0.95:  # not v2-only
            jitter = rnd.choice([rnd.uniform(-100, 100), rnd.uniform(-300, 300)])
            events.append(Ev("v3", entity, kind, at(t + jitter)))
        if n % 50 == 0:
            events.append(Ev("v3", None, "test", at(t)))
    return events


def expected_report(events: list[Ev], tolerance: timedelta, start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    grouped: dict[str | None, tuple[list, list]] = defaultdict(lambda: ([], []))  # type: ignore[type-arg]
    for e in events:
        if start <= e.at <= end:
            v2, v3 = grouped[e.entity_id]
            (v2 if e.source == "v2" else v3).append((to_micros(e.at), e.kind, e.event_id))
    return compare([(k, v2, v3) for k, (v2, v3) in grouped.items()], tolerance, details=True)


def test_every_backend_gives_the_same_answer_as_the_pure_comparison(store_engine: Engine) -> None:
    events = store_events(store_engine, realistic(7))
    report = run_parity(store_engine, ParityOptions(details=True), now=NOW)
    v2_times = [e.at for e in events if e.source == "v2"]
    v3_times = [e.at for e in events if e.source == "v3"]
    tolerance = timedelta(seconds=120)
    start = max(min(v2_times), min(v3_times)) - tolerance
    end = min(max(v2_times), max(v3_times)) + tolerance
    assert (report.start, report.end) == (start, end)
    expected = expected_report(events, tolerance, start, end).to_json()
    got = report.to_json()
    key = lambda u: (u["source"], u["event_id"])  # noqa: E731
    assert sorted(got.pop("unmatched"), key=key) == sorted(expected.pop("unmatched"), key=key)
    assert got == expected
    assert 0.5 < got["coverage"] < 0.9  # a third of the v3 times are jittered past 120 s


def test_kinds_v2_never_delivered_are_listed_and_do_not_lower_coverage(
    store_engine: Engine,
) -> None:
    store_events(
        store_engine,
        [
            Ev("v2", "u1", "entityCreated", at(0)),
            Ev("v3", "u1", "entityCreated", at(30)),
            Ev("v3", "u1", "userCredentialUpdated", at(40)),
            Ev("v2", "u2", None, at(100)),
            Ev("v3", "u2", "entityUpdated", at(50)),
        ],
    )
    report = run(store_engine)
    assert report["coverage"] == 1.0
    assert report["by_kind"]["userCredentialUpdated"] == {  # type: ignore[index]
        "v2_total": 0,
        "v3_total": 1,
        "matched": 0,
        "v2_only": 0,
        "v3_only": 1,
        "coverage": None,
    }
    # an unknown-kind v2 event pairs as the kind its v3 partner shows
    assert report["by_kind"]["entityUpdated"]["matched"] == 1  # type: ignore[index]


def test_the_default_window_starts_when_both_streams_run(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    try:
        store_events(
            engine,
            [
                Ev("v2", "u0", None, at(-5000)),  # v2 alone, before v3 was switched on
                Ev("v2", "u1", None, at(-121)),  # just outside the widened start
                Ev("v2", "u2", None, at(-120)),  # on the edge: counted, unpaired
                Ev("v3", "u3", "entityUpdated", at(0)),
                Ev("v2", "u3", None, at(10)),
                Ev("v3", "u4", "entityUpdated", at(500)),  # v3 alone, after v2 was switched off
            ],
        )
        report = run(engine)
        assert (report["v2_total"], report["v3_total"], report["matched"]) == (2, 1, 1)
        assert report["coverage"] == 0.5
        since = run(engine, since=at(-5000), until=at(500))
        assert (since["v2_total"], since["v3_total"], since["matched"]) == (4, 2, 1)
    finally:
        engine.dispose()


def test_nothing_to_compare_gives_null_coverage(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    try:
        assert run(engine)["coverage"] is None
        store_events(engine, [Ev("v3", "u", "entityCreated", at(0))])
        assert run(engine) | {"by_kind": {}} == {
            "v2_total": 0,
            "v3_total": 1,
            "matched": 0,
            "v2_only": 0,
            "v3_only": 1,
            "coverage": None,
            "by_kind": {},
        }
        store_events(engine, [Ev("v2", "u", None, at(9999))])  # v3 never started: all of v2 counts
        store_events(engine, [Ev("v2", "w", None, at(-9999))])
        assert run(engine, tolerance=timedelta(0))["v2_total"] == 0  # no overlap at all
    finally:
        engine.dispose()


young = st.lists(
    st.tuples(
        st.sampled_from(["v2", "v3"]),
        st.sampled_from(["u1", "u2"]),
        st.integers(min_value=0, max_value=599),  # seconds before NOW: all younger than 600
    ),
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(young, st.sampled_from([None, "explicit"]))
def test_events_younger_than_min_age_never_count(
    fresh: list[tuple[str, str, int]], window: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{Path(folder) / 'store.db'}")
        try:
            store_events(
                engine,
                [
                    Ev("v2", "u1", None, NOW - timedelta(hours=1)),
                    Ev("v3", "u1", "entityCreated", NOW - timedelta(hours=1, seconds=5)),
                    Ev("v3", "u2", "x", NOW),
                ],
            )
            options: dict[str, object] = {}
            if window:
                options = {"since": NOW - timedelta(days=1), "until": NOW + timedelta(days=1)}
            before = run(engine, **options)
            store_events(
                engine,
                [
                    Ev(s, e, None if s == "v2" else "x", NOW - timedelta(seconds=a))
                    for s, e, a in fresh
                ],
            )
            assert run(engine, **options) == before
            assert before["matched"] == 1
        finally:
            engine.dispose()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_command_prints_the_contract_keys_and_gates_on_min_coverage(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    now = datetime.now(UTC)
    try:
        store_events(
            engine,
            [
                Ev("v2", "u1", None, now - timedelta(hours=2)),
                Ev("v3", "u1", "entityCreated", now - timedelta(hours=2, seconds=-30)),
                Ev("v2", "u2", "entityUpdated", now - timedelta(hours=1)),
                Ev("v3", "u9", "entityUpdated", now - timedelta(hours=1)),
            ],
        )
    finally:
        engine.dispose()
    code, out, _ = invoke("parity", "--db", sqlite_url, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == KEYS
    assert (data["matched"], data["coverage"]) == (1, 0.5)

    code, out, _ = invoke("parity", "--db", sqlite_url, "--format", "json", "--details")
    unmatched = json.loads(out)["unmatched"]
    assert {(u["source"], u["entity_id"]) for u in unmatched} == {("v2", "u2"), ("v3", "u9")}
    assert set(unmatched[0]) == {"source", "event_id", "entity_id", "event_type", "occurred_at"}

    code, _, err = invoke("parity", "--db", sqlite_url, "--min-coverage", "0.6")
    assert code == 1
    assert "coverage 0.5000 < 0.6 over 2 v2 events" in err
    assert invoke("parity", "--db", sqlite_url, "--min-coverage", "0.5")[0] == 0
    code, out, _ = invoke("parity", "--db", sqlite_url, "--since", "90m")
    assert code == 0
    assert "v2 1, v3 1, matched 0" in out
    code, _, err = invoke("parity", "--db", sqlite_url, "--since", "yesterday")
    assert code == 2
    assert "not an RFC 3339 time or a duration" in err
    empty = sqlite_url.replace("store.db", "empty.db")
    open_store(empty).dispose()
    code, _, err = invoke("parity", "--db", empty, "--min-coverage", "0.1")
    assert code == 1
    assert "no v2 events" in err


def test_a_store_behind_head_is_an_operational_failure(sqlite_url: str) -> None:
    from migrate.store import upgrade

    upgrade(sqlite_url, "0001")
    code, _, err = invoke("parity", "--db", sqlite_url)
    assert code == 3
    assert "db upgrade" in err


@pytest.mark.parametrize("text", ["2026-12-01T00:00:00Z", "24h", "1h30m", "7d"])
def test_times_and_durations(text: str) -> None:
    from migrate.parity import parse_moment

    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert parse_moment(text, now) <= now


def test_entities_differing_only_by_trailing_spaces_stay_apart(store_engine: Engine) -> None:
    # MariaDB's collations compare "u1" and "u1 " as equal (PAD SPACE): they must not pair
    # (as one entity, both v2 events would find a partner).
    store_events(
        store_engine,
        [
            Ev("v2", "u1", None, at(0)),
            Ev("v3", "u1 ", "entityCreated", at(0)),
            Ev("v2", "u1 ", None, at(500)),
            Ev("v3", "u1", "entityCreated", at(1)),
            Ev("v3", "u1", "entityCreated", at(501)),
        ],
    )
    report = run_parity(store_engine, ParityOptions(details=True), now=NOW)
    assert (report.matched, report.v2_only, report.v3_only) == (1, 1, 2)
    assert report.unmatched is not None
    assert sorted((u["entity_id"], u["occurred_at"][11:19]) for u in report.unmatched) == [
        ("u1", "00:08:21"),
        ("u1 ", "00:00:00"),
        ("u1 ", "00:08:20"),
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_counting_leaves_the_garbage_collector_as_it_found_it(
    sqlite_url: str, enabled: bool
) -> None:
    # The hot loop pauses the cyclic collector (rows make no cycles); the caller's setting
    # comes back, whichever it was.
    import gc

    engine = open_store(sqlite_url)
    store_events(engine, realistic(3, changes=20))
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        run(engine)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
        engine.dispose()


def test_parity_reads_a_store_without_the_orm(sqlite_url: str) -> None:
    # The models (declarative mapping, the PostgreSQL/MySQL dialects they name) were a third
    # of parity's start-up: bench/parity.py's "startup" line.
    import subprocess
    import sys

    engine = open_store(sqlite_url)
    store_events(engine, realistic(5, changes=20))
    engine.dispose()
    code = (
        "import sys\n"
        "from migrate.parity import ParityOptions, run_parity\n"
        "from migrate.store import open_store\n"
        f"engine = open_store({sqlite_url!r}, upgrade=False)\n"
        "print(run_parity(engine, ParityOptions(workers=1)).to_json()['v2_total'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy.orm', 'alembic'))))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    total, modules = run.stdout.splitlines()[-2:]
    assert int(total) > 0
    assert modules == "[]"
