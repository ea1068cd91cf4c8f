"""``checklist``: each check passes, and fails for its own reason; JUnit output; exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from parity_support import Ev, store_events
from sqlalchemy import Engine, insert, update
from test_api_support import make_rig

from migrate.checklist import ChecklistSettings, ConfigError, read_config, run_checklist
from migrate.cli import cli
from migrate.store import open_store, upgrade
from migrate.store import settings as store_settings
from migrate.store.models import Event, IngestFile, Reject

ENDPOINT = "https://listener.example/v3"  # where the simulator's subscriptions deliver
NO_API: dict[str, str] = {}


def changes(engine: Engine, count: int, *, skip_v3: int = 0, kind: str = "entityUpdated") -> None:
    """``count`` changes an hour ago, each in both streams (the first ``skip_v3`` in v2 only)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for n in range(count):
        at = start + timedelta(seconds=n)
        events.append(Ev("v2", f"user-{n}", kind, at))
        if n >= skip_v3:
            events.append(Ev("v3", f"user-{n}", kind, at + timedelta(seconds=3)))
    store_events(engine, events)


@pytest.fixture
def ready_store(sqlite_url: str) -> Iterator[tuple[str, Engine]]:
    """A store in which every store check passes."""
    engine = open_store(sqlite_url)
    changes(engine, 150)
    store_settings.put(engine, store_settings.LISTENER_AUDIENCE, ENDPOINT)
    yield sqlite_url, engine
    engine.dispose()


def verdict(url: str, env: dict[str, str] | None = None, **settings: Any) -> dict[str, Any]:
    result = run_checklist(url, ChecklistSettings(**settings), env=NO_API if env is None else env)
    return {c.id: c for c in result.checks} | {"ready": result.ready}


def test_a_ready_store_passes_every_store_check_and_api_checks_skip(
    ready_store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, _ = ready_store
    checks = verdict(url, exports_dir=str(tmp_path / "none"))
    assert checks["ready"] is True
    statuses = {k: c.status for k, c in checks.items() if k != "ready"}
    assert statuses == {
        "store": "pass",
        "endpoint": "pass",
        "subscriptions": "skip",
        "receipt": "pass",
        "signatures": "pass",
        "rejects": "pass",
        "parity": "pass",
        "summary": "skip",
        "exports": "pass",
    }
    assert "WEBHOOKS_MIGRATE_TOKEN" in checks["subscriptions"].detail
    assert verdict(url, strict=True)["ready"] is False  # skips block under --strict


def test_a_store_behind_head_fails_the_store_check(sqlite_url: str) -> None:
    upgrade(sqlite_url, "0001")
    checks = verdict(sqlite_url, endpoint=ENDPOINT)
    assert checks["store"].status == "fail"
    assert "db upgrade" in checks["store"].detail
    assert checks["parity"].status == "skip"
    unreachable = verdict("postgresql+psycopg://nobody@127.0.0.1:1/none", endpoint=ENDPOINT)
    assert unreachable["store"].status == "fail"
    assert "cannot open the store" in unreachable["store"].detail


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("http://listener.example.com/v3", "not HTTPS"),
        ("https://localhost:8443/v3", "local name"),
        ("https://10.1.2.3/v3", "private"),
        ("https://listener/v3", "single-label"),
    ],
)
def test_an_endpoint_not_public_https_fails(
    ready_store: tuple[str, Engine], endpoint: str, why: str
) -> None:
    check = verdict(ready_store[0], endpoint=endpoint)["endpoint"]
    assert check.status == "fail"
    assert why in check.detail


def test_without_a_recorded_or_given_endpoint_the_endpoint_check_fails(sqlite_url: str) -> None:
    open_store(sqlite_url).dispose()
    check = verdict(sqlite_url)["endpoint"]
    assert check.status == "fail"
    assert "--endpoint" in check.detail


def test_no_recent_v3_event_fails_receipt(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    old = datetime.now(UTC) - timedelta(days=3)
    store_events(engine, [Ev("v3", "u", "entityCreated", old)])
    engine.dispose()
    check = verdict(sqlite_url)["receipt"]
    assert check.status == "fail"
    assert "no v3 event in the last 24h" in check.detail
    assert verdict(sqlite_url, window="4d")["receipt"].status == "pass"


def test_an_unverified_v3_event_fails_signatures(ready_store: tuple[str, Engine]) -> None:
    url, engine = ready_store
    with engine.begin() as conn:
        conn.execute(
            update(Event).where(Event.entity_id == "user-7").values(signature_verified=False)
        )
    check = verdict(url)["signatures"]
    assert check.status == "fail"
    assert "1 v3 event(s) were stored without verifying" in check.detail


def test_an_unresolved_reject_fails_rejects(ready_store: tuple[str, Engine]) -> None:
    url, engine = ready_store
    row = {"path": "x.txt", "line": 3, "pointer": "", "reason": "unknown_kid", "message": "m"}
    with engine.begin() as conn:
        conn.execute(insert(Reject).values(raw="eyJ...", **row))
    check = verdict(url)["rejects"]
    assert check.status == "fail"
    assert "1 unresolved reject(s) (unknown_kid: 1)" in check.detail
    code = CliRunner().invoke(cli, ["rejects", "resolve", "1", "--note", "test", "--db", url])
    assert code.exit_code == 0
    assert verdict(url)["rejects"].status == "pass"


def test_low_parity_fails_with_what_to_do(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    changes(engine, 200, skip_v3=10)
    engine.dispose()
    check = verdict(sqlite_url)["parity"]
    assert check.status == "fail"
    assert check.detail.startswith("parity 0.9500 < 0.999 over 200 v2 event(s): 10 v2 event(s)")
    assert "parity --details" in check.detail
    assert verdict(sqlite_url, min_coverage=0.95)["parity"].status == "pass"
    too_few = verdict(sqlite_url, min_events=500)["parity"]
    assert too_few.status == "fail"
    assert "fewer than min_events 500" in too_few.detail


def test_an_export_downloaded_but_not_ingested_fails_exports(
    ready_store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = ready_store
    folder = tmp_path / "exports"
    folder.mkdir()
    meta = {"path": str(folder / "job.ndjson"), "sha256": "ab" * 32, "job_id": "job"}
    (folder / "job.ndjson.meta.json").write_text(json.dumps(meta))
    check = verdict(url, exports_dir=str(folder))["exports"]
    assert check.status == "fail"
    assert "downloaded but never ingested" in check.detail
    with engine.begin() as conn:
        conn.execute(
            insert(IngestFile).values(
                path=meta["path"], sha256=meta["sha256"], kind="export", status="completed"
            )
        )
    assert verdict(url, exports_dir=str(folder))["exports"].status == "pass"


def api_settings(rig: Any) -> dict[str, Any]:
    return {"base_url": rig.sim.base_url, "customer_id": rig.sim.config.customer_id}


def rig_env(rig: Any) -> dict[str, str]:
    return {
        "WEBHOOKS_MIGRATE_CLIENT_ID": rig.sim.config.client_id,
        "WEBHOOKS_MIGRATE_CLIENT_SECRET": rig.secret,
    }


def test_subscriptions_and_summary_against_the_simulator(
    ready_store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = ready_store
    with make_rig(tmp_path / "rig", succeeded=5, retrying=0, failed=0) as rig:
        checks = verdict(url, rig_env(rig), **api_settings(rig))
        assert checks["subscriptions"].status == "pass", checks["subscriptions"].detail
        assert checks["summary"].status == "pass", checks["summary"].detail
        assert checks["ready"] is True

        # v2 delivered deletions; the subscription does not cover them
        changes(engine, 1, kind="entityDeleted")
        rig.sim.world.subscriptions[rig.sid].events = ["entityCreated", "entityUpdated"]
        check = verdict(url, rig_env(rig), **api_settings(rig))["subscriptions"]
        assert check.status == "fail"
        assert "does not subscribe to entityDeleted" in check.detail

        rig.sim.world.subscriptions[rig.sid].enabled = False
        check = verdict(url, rig_env(rig), **api_settings(rig))["subscriptions"]
        assert check.status == "fail"
        assert "is disabled" in check.detail

        missing = verdict(
            url, rig_env(rig), endpoint="https://other.example/v3", **api_settings(rig)
        )["subscriptions"]
        assert missing.status == "fail"
        assert "no v3 subscription points at https://other.example/v3" in missing.detail

        wrong = verdict(
            url, {**rig_env(rig), "WEBHOOKS_MIGRATE_CLIENT_SECRET": "nope"}, **api_settings(rig)
        )["subscriptions"]
        assert wrong.status == "fail"
        assert "nope" not in wrong.detail


def test_a_summary_with_exportable_events_fails(
    ready_store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, _ = ready_store
    with make_rig(tmp_path / "rig", succeeded=2, retrying=0, failed=3) as rig:
        check = verdict(url, rig_env(rig), **api_settings(rig))["summary"]
    assert check.status == "fail"
    assert "3 failed event(s) are still exportable" in check.detail
    assert "api recover" in check.detail


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, ["checklist", *args])
    return result.exit_code, result.stdout, result.stderr


def test_junit_output_parses_and_reports_failures_and_skips(
    ready_store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = ready_store
    changes(engine, 1, skip_v3=1)  # one v2 event without partner: 150/151 < 0.999
    report = tmp_path / "checklist.xml"
    code, out, _ = invoke(
        "--db", url, "--format", "junit", "--exports-dir", str(tmp_path), "-o", str(report)
    )
    assert code == 1
    assert report.read_text() == out
    root = ET.fromstring(out)  # noqa: S314 - our own output
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert list(cases) == [
        "store",
        "endpoint",
        "subscriptions",
        "receipt",
        "signatures",
        "rejects",
        "parity",
        "summary",
        "exports",
    ]
    failure = cases["parity"].find("failure")
    assert failure is not None
    assert "parity 0.9934 < 0.999" in (failure.get("message") or "")
    assert cases["subscriptions"].find("skipped") is not None
    assert cases["store"].find("failure") is None
    suite = next(root.iter("testsuite"))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "1", "2")
    code, out, _ = invoke("--db", url, "--format", "json", "--min-coverage", "0.99")
    assert code == 0
    data = json.loads(out)
    assert data["ready"] is True
    assert [set(c) for c in data["checks"]] == [{"id", "title", "status", "detail"}] * 9
    code, out, _ = invoke("--db", url, "--min-coverage", "0.99", "--strict")
    assert code == 1
    assert "NOT READY" in out
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_settings_come_from_the_file_and_options_win(
    ready_store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = ready_store
    changes(engine, 1, skip_v3=1)
    config = tmp_path / "webhooks-migrate.toml"
    config.write_text('min_coverage = 0.99\n[checklist]\nwindow = "2d"\n')
    assert read_config(config) == {"min_coverage": 0.99, "window": "2d"}
    assert invoke("--db", url, "--config", str(config))[0] == 0
    code, _, err = invoke("--db", url, "--config", str(config), "--min-coverage", "0.9999")
    assert code == 1
    assert "parity" in err

    config.write_text("min_coverage = 0.99\nmin_coverge = 1\n")
    code, _, err = invoke("--db", url, "--config", str(config))
    assert code == 2
    assert f"{config}: unknown key 'min_coverge'" in err
    config.write_text('min_events = "many"\n')
    with pytest.raises(ConfigError, match="min_events must be int"):
        read_config(config)
    config.write_text("not = [toml\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config(config)
    assert invoke("--db", url, "--window", "soon")[0] == 2


def test_the_signature_counts_read_an_index_alone(ready_store: tuple[str, Engine]) -> None:
    """The signatures check would otherwise read every v3 row (~1.6 s a million on SQLite)."""
    from migrate.checklist.store_checks import signature_counts

    _, engine = ready_store
    statement = signature_counts().compile(engine)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", tuple(statement.params.values())
        ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "COVERING INDEX ix_events_source_event_type_signature_verified" in details, details
