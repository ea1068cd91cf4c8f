"""``status``: what is in the store, read-only, on every backend; and read-only ``db`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from migrate import store
from migrate.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
EXPORT_LINE = json.loads((FIXTURES / "seed-export-line.ndjson").read_text("utf-8"))


def run(*args: Any, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def _fill(url: str, tmp_path: Path) -> Path:
    """One v2 event (kind ADD), two v3 export events, one rejected line."""
    export = tmp_path / "export.ndjson"
    lines = [
        json.dumps(dict(EXPORT_LINE, jti="a", toe=1559372000)),
        json.dumps(dict(EXPORT_LINE, jti="b", toe=1559375600)),
        "{not json",
    ]
    export.write_text("\n".join(lines) + "\n", "utf-8")
    loaded = run("ingest", export, "--from", "export", "--db", url, "--etag", '"e1"')
    assert loaded.exit_code == 1, loaded.output  # the bad line
    v2 = run("ingest", FIXTURES / "seed-v2-payload.json", "--from", "v2", "--v2-kind", "ADD",
             "--db", url)  # fmt: skip
    assert v2.exit_code == 0, v2.output
    return export


def test_status_reports_what_is_in_the_store(db_url: str, tmp_path: Path) -> None:
    export = _fill(db_url, tmp_path)
    result = run("status", "--db", db_url, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["database"] == store.safe_url(db_url)
    assert report["revision"] == {"current": store.head(), "head": store.head(), "at_head": True}
    events = report["events"]
    assert events["total"] == 3
    assert [(r["source"], r["event_type"], r["count"]) for r in events["by_source_and_kind"]] == [
        ("v2", "entityCreated", 1),
        ("v3", "entityCreated", 2),
    ]
    v2, v3 = events["streams"]
    assert (v2["source"], v2["count"], v2["occurred_from"]) == (
        "v2",
        1,
        "2012-04-07T22:26:10.947000Z",
    )
    assert v3["occurred_from"] == "2019-06-01T06:53:20.000000Z"
    assert v3["occurred_to"] == "2019-06-01T07:53:20.000000Z"
    assert events["last_v3_received"] is not None
    assert events["unverified_v3"] == {"total": 2, "never_checked": 2, "no_verify": 0}
    files = {f["path"]: f for f in report["files"]}
    mine = files[str(export)]
    assert (mine["etag"], mine["status"], mine["read"], mine["inserted"], mine["rejected"]) == (
        '"e1"', "completed", 3, 2, 1,
    )  # fmt: skip
    assert len(mine["sha256"]) == 64
    assert report["rejects"] == {"total": 1, "by_reason": {"malformed_json": 1}}

    text = run("status", "--db", db_url)
    assert text.exit_code == 0, text.output
    assert "events: 3 (v2 1, v3 2)" in text.stdout
    assert "unverified v3 events: 2" in text.stdout
    assert "rejects: 1 (malformed_json 1)" in text.stdout
    assert mine["sha256"] in text.stdout


def test_status_changes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    _fill(sqlite_url, tmp_path)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    assert run("status", "--db", sqlite_url).exit_code == 0
    assert path.read_bytes() == before


def test_status_on_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere.db'}"
    for args in (["status"], ["status", "--format", "json"]):
        result = run(*args, "--db", url)
        assert result.exit_code == 3, result.output
        assert "does not exist" in result.stderr
        assert "db upgrade" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_status_on_a_store_not_set_up_says_run_db_upgrade(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        import sqlite3

        sqlite3.connect(db_url.removeprefix("sqlite:///")).close()  # an empty file
    result = run("status", "--db", db_url)
    assert result.exit_code == 3, result.output
    assert "run `webhooks-migrate db upgrade`" in result.stderr
    assert "no such table" not in result.stderr
    assert store.current(db_url) is None  # not upgraded


def test_status_of_an_empty_store_behind_nothing(sqlite_url: str) -> None:
    assert run("db", "upgrade", "--db", sqlite_url).exit_code == 0
    report = json.loads(run("status", "--db", sqlite_url, "--format", "json").stdout)
    assert report["events"]["total"] == 0
    assert report["events"]["last_v3_received"] is None
    assert report["files"] == []


@pytest.mark.parametrize("command", ["current", "history", "check"])
def test_read_only_db_commands_create_no_sqlite_file(command: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere.db'}"
    result = run("db", command, "--db", url)
    assert result.exit_code in (0, 1), result.output
    assert list(tmp_path.iterdir()) == []


def test_db_current_on_a_missing_file_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere.db'}"
    text = run("db", "current", "--db", url)
    assert text.exit_code == 0
    assert "does not exist" in text.stdout
    report = json.loads(run("db", "current", "--db", url, "--format", "json").stdout)
    assert report["current"] is None


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_no_upgrade_on_a_store_not_set_up_says_run_db_upgrade(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    if kind == "empty":
        import sqlite3

        sqlite3.connect(path).close()
    result = run(
        "ingest", FIXTURES / "seed-export-line.ndjson", "--from", "export",
        "--db", f"sqlite:///{path}", "--no-upgrade",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "db upgrade" in result.stderr
    assert "no such table" not in result.stderr
    assert path.exists() is (kind == "empty")


def test_no_upgrade_on_a_server_store_not_set_up(db_url: str) -> None:
    result = run(
        "ingest", FIXTURES / "seed-export-line.ndjson", "--from", "export",
        "--db", db_url, "--no-upgrade",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "run `webhooks-migrate db upgrade`" in result.stderr
