"""The `api` commands end to end: output formats, exit codes, the store, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_api_support import Rig, make_rig

from migrate.cli import cli


@pytest.fixture
def rig(tmp_path: Path):
    with make_rig(tmp_path, export_seconds=0) as rig:
        yield rig


def api(rig: Rig, *args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, ["api", *args], env=rig.env(**env))


def as_json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_summary_prints_stores_and_checks(rig: Rig) -> None:
    text = api(rig, "summary")
    assert text.exit_code == 0
    assert "exportable 4" in text.stdout
    data = as_json(api(rig, "summary", "--format", "json"))
    assert data["summary"]["total"] == 8  # type: ignore[index]
    assert data["invariants"] == {"ok": True, "problems": []}
    assert data["stored"] is False  # the same API snapshot was stored by the first call
    assert rig.count("summaries") == 1


def test_broken_invariants_warn_and_fail_only_with_strict(rig: Rig) -> None:
    rig.sim.world.override_summary(rig.sid, exportable=9)
    lenient = api(rig, "summary", "--no-store")
    assert lenient.exit_code == 0
    assert "warning: summary invariant broken: exportable (9) > failed (4)" in lenient.stderr
    strict = api(rig, "summary", "--no-store", "--strict")
    assert strict.exit_code == 1
    assert "breaks 1 invariant" in strict.stderr


def test_exports_start_list_status_cancel(rig: Rig) -> None:
    rig.sim.config.export_seconds = 60
    job = as_json(api(rig, "exports", "start", "--format", "json"))
    second = api(rig, "exports", "start")
    assert second.exit_code == 1
    assert "Too many active exports" in second.stderr
    assert str(job["id"]) in second.stderr  # names the export that is in the way
    listed = as_json(api(rig, "exports", "list", "--format", "json"))
    assert [j["id"] for j in listed["exports"]] == [job["id"]]  # type: ignore[union-attr]
    status = as_json(api(rig, "exports", "status", str(job["id"]), "--format", "json"))
    assert status["state"] == "processing"
    canceled = as_json(api(rig, "exports", "cancel", str(job["id"]), "--format", "json"))
    assert canceled["state"] == "canceled"


def test_download_twice_with_ingest_loads_once(rig: Rig, tmp_path: Path) -> None:
    job = as_json(api(rig, "exports", "start", "--format", "json"))
    first = as_json(
        api(
            rig,
            "exports",
            "download",
            str(job["id"]),
            "-o",
            str(tmp_path / "a.ndjson"),
            "--ingest",
            "--format",
            "json",
        )
    )
    assert first["lines"] == 4
    assert first["etag"]
    assert first["ingest"]["inserted"] == 4  # type: ignore[index]
    again = as_json(
        api(
            rig,
            "exports",
            "download",
            str(job["id"]),
            "-o",
            str(tmp_path / "b.ndjson"),
            "--ingest",
            "--format",
            "json",
        )
    )
    assert again["ingest"]["already_ingested"] is True  # type: ignore[index]
    assert rig.count("events") == 4


def test_download_404_explains_and_exits_1(rig: Rig) -> None:
    rig.sim.config.export_seconds = 60
    job = as_json(api(rig, "exports", "start", "--format", "json"))
    result = api(rig, "exports", "download", str(job["id"]))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "still processing: the file is not written yet" in lines[0]


def test_events_commands(rig: Rig) -> None:
    listed = as_json(api(rig, "events", "list", "--state", "failure", "--format", "json"))
    assert listed["total"] == 4
    eid = listed["_embedded"]["events"][0]["id"]  # type: ignore[index]
    shown = as_json(api(rig, "events", "show", eid, "--format", "json"))
    assert shown["state"] == "failure"
    history = as_json(api(rig, "events", "history", eid, "--format", "json"))
    assert len(history["history"]) == 6  # type: ignore[arg-type]
    redelivered = as_json(api(rig, "events", "redeliver", eid, "--format", "json"))
    assert redelivered["state"] == "retrying"
    refused = api(rig, "events", "redeliver", eid)
    assert refused.exit_code == 1
    assert "409" in refused.stderr


def test_recover_prints_steps_and_a_rerun_changes_nothing(rig: Rig, tmp_path: Path) -> None:
    args = ["recover", "--download-dir", str(tmp_path / "dl"), "--poll-interval", "0"]
    first = api(rig, *args, "--format", "json")
    report = as_json(first)
    assert report["changed"] is True
    assert [e["ingest"]["inserted"] for e in report["exports"]] == [4]  # type: ignore[index, union-attr]
    for step in ("[summary]", "[export]", "[wait]", "[download]", "[ingest]", "[summary-after]"):
        assert step in first.stderr
    again = api(rig, *args)
    assert again.exit_code == 0
    assert again.stdout.strip() == "nothing changed"
    assert rig.count("events") == 4


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"WEBHOOKS_MIGRATE_CLIENT_SECRET": "nope"}, 3, "refused client"),
        (
            {"WEBHOOKS_MIGRATE_CLIENT_ID": "", "WEBHOOKS_MIGRATE_CLIENT_SECRET": ""},
            2,
            "no API credentials",
        ),
        ({"WEBHOOKS_MIGRATE_API_URL": "http://api.example.com"}, 2, "refusing plain http"),
        ({"WEBHOOKS_MIGRATE_CUSTOMER_ID": ""}, 2, "no customer id"),
    ],
)
def test_errors_are_one_line_with_the_contract_exit_codes(
    rig: Rig, env: dict[str, str], code: int, message: str
) -> None:
    result = api(rig, "summary", "--no-store", **env)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_api_exits_3(tmp_path: Path) -> None:
    with make_rig(tmp_path) as rig:
        pass  # stopped: its port is closed now
    result = CliRunner().invoke(
        cli,
        ["api", "exports", "list", "--tries", "2"],
        env={**rig.env(), "WEBHOOKS_MIGRATE_TOKEN": "x"},
    )
    assert result.exit_code == 3
    assert "connection refused" in result.stderr


def test_listed_events_ingest_with_verified_signatures(rig: Rig, tmp_path: Path) -> None:
    """`api events list --format json` is the API's page shape, which `ingest` reads."""
    listed = api(rig, "events", "list", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    total = as_json(listed)["total"]
    path = tmp_path / "events.json"
    path.write_text(listed.stdout)
    jwks = f"{rig.sim.base_url}/{rig.sim.config.customer_id}/login/jwk"
    argv = ["ingest", "--from", "events", str(path), "--db", rig.db_url, "--format", "json"]
    result = CliRunner().invoke(cli, [*argv, "--jwks", jwks])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert isinstance(total, int)
    assert total > 0
    assert (report["read"], report["inserted"], report["rejected"]) == (total, total, 0)
    assert report["signatures_verified"] is True
    assert rig.count("deliveries") == total


def test_an_unknown_event_state_is_a_usage_error(rig: Rig) -> None:
    result = api(rig, "events", "list", "--state", "bogus")
    assert result.exit_code == 2, result.output
    assert "bogus" in result.stderr
    known = api(rig, "events", "list", "--state", "FAILURE", "--format", "json")
    assert known.exit_code == 0, known.output
    states = {e["state"] for e in json.loads(known.stdout)["_embedded"]["events"]}
    assert states <= {"failure"}
