"""rehearse: the whole cutover against the simulator and the real listener, faults included.

Every rehearsal here is real: the simulator's HTTP server on a free port in this process, the
listener a `webhooks-migrate serve` child process, the store a SQLite file (or a PostgreSQL
database of its own). Small `--events` keep the default suite fast.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from migrate.rehearse import FAULTS, RehearsalOptions, Report, rehearse
from migrate.rehearse.listener import group_alive
from migrate.store import open_store

EVENTS = 300
ROOT = Path(__file__).resolve().parent.parent


def port_is_free(port: int) -> bool:
    """Nothing listens there (connections in TIME_WAIT do not count: SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run(tmp: Path, *faults: str, events: int = EVENTS, db_url: str | None = None) -> Report:
    options = RehearsalOptions(events=events, faults=frozenset(faults), db_url=db_url)
    return rehearse(options, directory=tmp)


def step(report: Report, step_id: str) -> dict[str, Any]:
    (found,) = [s.to_json() for s in report.steps if s.id == step_id]
    return found


def checks(report: Report) -> dict[str, str]:
    assert report.verdict is not None
    return {c.id: c.status for c in report.verdict.checks}


def assert_nothing_left(report: Report) -> None:
    listener = step(report, "listener")["numbers"]
    assert not group_alive(listener["pid"]), "a listener process outlived the rehearsal"
    assert port_is_free(listener["port"])
    sim_port = int(step(report, "simulator")["numbers"]["base_url"].rsplit(":", 1)[1])
    assert port_is_free(sim_port)


def stored_v3(db_url: str) -> dict[str, int]:
    """event_id -> rows (always 1 if the store holds each event once)."""
    engine = open_store(db_url, upgrade=False)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT event_id, COUNT(*) FROM events WHERE source = 'v3' GROUP BY event_id"
                )
            ).all()
    finally:
        engine.dispose()
    return {r[0]: int(r[1]) for r in rows}


def test_the_default_rehearsal_is_ready_and_accounts_for_every_event(tmp_path: Path) -> None:
    report = run(tmp_path)
    assert report.ready, report.to_json()
    assert [s.id for s in report.steps] == [
        "store", "simulator", "listener", "subscription", "stream", "recover", "reconcile",
        "parity", "checklist",
    ]  # fmt: skip
    assert all(s.status == "ok" for s in report.steps)
    # Only the loopback endpoint is not a plain pass, and it says why.
    statuses = checks(report)
    assert statuses.pop("endpoint") == "warn"
    assert set(statuses.values()) == {"pass"}
    stream = step(report, "stream")["numbers"]
    assert stream["changes"] == EVENTS
    assert stream["v3_published"] == EVENTS
    assert stream["v2_delivered"] == EVENTS
    assert stream["v2_duplicate_posts"] > 0
    recover = step(report, "recover")["numbers"]
    assert recover["inserted"] > 0  # some deliveries failed six times: the export has them
    reconciled = step(report, "reconcile")["numbers"]
    assert reconciled["v3_missing"] == reconciled["v3_unexpected"] == 0
    assert reconciled["duplicates_absorbed"] > 0  # lost answers: delivered again, stored once
    assert set(stored_v3(f"sqlite:///{tmp_path / 'rehearsal.db'}").values()) == {1}
    assert step(report, "parity")["numbers"]["coverage"] == 1.0
    # The runbook: every step names the command a user would run by hand.
    assert "api subscriptions create --from-v2" in step(report, "subscription")["command"]
    assert "api recover" in step(report, "recover")["command"]
    assert "checklist" in step(report, "checklist")["command"]
    assert_nothing_left(report)


def test_listener_down_loses_no_v3_event_and_the_counts_agree(tmp_path: Path) -> None:
    report = run(tmp_path, "listener-down")
    assert report.ready, report.failing
    stream = step(report, "stream")["numbers"]
    assert stream["listener_restarts"] == 2
    sim = step(report, "reconcile")["numbers"]["simulator"]
    reconciled = step(report, "reconcile")["numbers"]
    stored = stored_v3(f"sqlite:///{tmp_path / 'rehearsal.db'}")
    # Every v3 event the simulator published is in the store, exactly once...
    assert reconciled["v3_published"] == stream["v3_published"] == EVENTS
    assert len(stored) == EVENTS
    assert set(stored.values()) == {1}
    assert reconciled["v3_missing"] == reconciled["v3_unexpected"] == 0
    # ... brought in by the retries (succeeded) or by the bulk export (failed, exported).
    assert sim["total"] == sim["succeeded"] + sim["failed"] == EVENTS
    assert sim["retrying"] == sim["exportable"] == 0
    recover = step(report, "recover")["numbers"]
    assert recover["lines"] == sim["failed"] >= EVENTS * 0.05  # the long outage's events
    assert reconciled["v3_from_exports"] == recover["inserted"] > 0
    # An exported event the store already had came through the listener, its answer lost.
    assert recover["inserted"] + recover["duplicates"] == recover["lines"]
    # v2 has no export: what it sent into the outage is lost, and only that.
    assert stream["v2_lost"] > 0
    assert reconciled["v2_stored"] == stream["v2_delivered"] == EVENTS - stream["v2_lost"]
    assert_nothing_left(report)


def test_a_second_download_of_the_export_is_not_loaded_again(tmp_path: Path) -> None:
    report = run(tmp_path, "duplicate-export")
    assert report.ready, report.failing
    again = step(report, "duplicate-export")
    assert again["status"] == "ok"
    assert again["numbers"] == {"inserted": 0, "already_ingested": True}
    assert len(list((tmp_path / "exports").glob("*.meta.json"))) == 2
    assert checks(report)["exports"] == "pass"


@pytest.mark.parametrize("fault", [name for name, kind in FAULTS.items() if not kind.survivable])
def test_each_detectable_fault_fails_the_check_that_names_it(tmp_path: Path, fault: str) -> None:
    report = run(tmp_path, fault)
    assert not report.ready
    wanted = set(FAULTS[fault].checks)
    assert wanted <= set(report.failing)
    if fault == "no-subscription":
        # Nothing arrives over v3 at all: receipt and parity fail too, subscriptions first.
        assert report.failing[0] == "subscriptions"
    else:
        assert set(report.failing) == wanted
    assert report.to_json()["expected_failures"] == sorted(wanted)
    # Nothing was lost on the way: what the simulator published is in the store.
    assert step(report, "reconcile")["numbers"]["v3_missing"] == 0


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_the_default_rehearsal_on_postgresql(tmp_path: Path, db_url: str) -> None:
    report = run(tmp_path, db_url=db_url)
    assert report.ready, report.failing
    assert report.store.startswith("postgresql")
    assert not (tmp_path / "rehearsal.db").exists()
    assert len(stored_v3(db_url)) == EVENTS
    assert_nothing_left(report)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "migrate", "rehearse", *args]


def test_the_command_prints_json_exits_as_the_checklist_and_refuses_a_used_store(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        cli("--dir", str(tmp_path), "--events", "150", "--format", "json"),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # progress on a terminal only
    data = json.loads(done.stdout)
    assert data["ready"] is True
    assert data["events"] == 150
    assert [c["status"] for c in data["checklist"]["checks"]].count("fail") == 0
    again = subprocess.run(
        cli("--dir", str(tmp_path), "--events", "150", "--fault", "drop-v3"),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2
    assert "not empty" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_a_detectable_fault_exits_1_naming_the_check(tmp_path: Path) -> None:
    done = subprocess.run(
        cli("--dir", str(tmp_path), "--events", "150", "--fault", "drop-v3"),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: not ready: parity"
    assert "NOT READY" in done.stdout
    assert "$ webhooks-migrate parity" in done.stdout  # the runbook


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_in_the_middle_exits_130_and_leaves_nothing_running(
    tmp_path: Path, sig: signal.Signals
) -> None:
    process = subprocess.Popen(
        cli("--dir", str(tmp_path), "--events", "6000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if line.startswith("[4/9] subscription") or not line:
            break
    text = "".join(seen)
    pid = int(re.search(r"\(pid (\d+)\)", text).group(1))  # type: ignore[union-attr]
    ports = [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", text)]
    assert group_alive(pid)
    assert len(set(ports)) == 2
    time.sleep(0.5)  # in the middle of the stream
    process.send_signal(sig)
    assert process.wait(60) == 130
    err = process.stderr.read()
    assert "interrupted during stream" in err
    assert len(err.strip().splitlines()) == 1
    assert not group_alive(pid)
    assert all(port_is_free(p) for p in set(ports))
    assert os.path.exists(tmp_path / "rehearsal.db")  # what was stored stays, for a look
