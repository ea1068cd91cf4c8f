"""``webhooks-migrate db …`` through click's runner, as users and CI call it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from migrate import store
from migrate.cli import cli


def db(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["db", *args], env=env, catch_exceptions=False)


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_upgrade_current_history_check_downgrade(db_url: str) -> None:
    head = store.head()
    safe = store.safe_url(db_url)

    before = as_json(db("current", "--db", db_url, "--format", "json"))
    assert before == {"database": safe, "current": None, "head": head, "at_head": False}

    upgraded = db("upgrade", "--db", db_url)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout == f"{safe}: <base> -> {head}\n"

    again = as_json(db("upgrade", "--db", db_url, "--format", "json"))
    assert again == {"database": safe, "from": head, "to": head}

    assert db("current", "--db", db_url).stdout == f"{head} (head)\n"

    history = as_json(db("history", "--db", db_url, "--format", "json"))
    assert history["current"] == head
    assert [r["revision"] for r in history["revisions"]] == [r.revision for r in store.revisions()]
    assert history["revisions"][-1]["head"] is True
    text_history = db("history", "--db", db_url).stdout.splitlines()
    assert text_history[-1].endswith(f"(head), {store.revisions()[-1].doc} (current)")

    checked = db("check", "--db", db_url)
    assert checked.exit_code == 0
    assert checked.stdout == f"models and migrations agree (revision {head})\n"

    downgraded = as_json(db("downgrade", "base", "--db", db_url, "--format", "json"))
    assert downgraded == {"database": safe, "from": head, "to": None, "destroyed": {}}
    assert store.current(db_url) is None


def test_check_exits_1_listing_each_difference(db_url: str) -> None:
    store.upgrade(db_url)
    engine = store.make_engine(db_url)
    try:
        with engine.begin() as conn:  # the database drifts from the models
            conn.exec_driver_sql("ALTER TABLE summaries ADD COLUMN note INTEGER")
    finally:
        engine.dispose()

    result = db("check", "--db", db_url)
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith("column summaries.note (INTEGER")  # INTEGER(11) on MariaDB
    assert line.endswith(") is in the database but not in the models")
    assert result.stderr == "Error: 1 difference between the models and the store\n"

    report = as_json(db("check", "--db", db_url, "--format", "json"))
    assert report["clean"] is False
    assert report["differences"] == [line]


def test_check_of_a_database_behind_head_exits_1(sqlite_url: str) -> None:
    result = db("check", "--db", sqlite_url, "--format", "json")
    assert result.exit_code == 1
    assert as_json(result)["clean"] is False
    assert "not at head" in as_json(result)["differences"][0]


def test_the_store_url_comes_from_the_environment(sqlite_url: str) -> None:
    result = db("upgrade", env={"WEBHOOKS_MIGRATE_DB": sqlite_url})
    assert result.exit_code == 0
    assert store.current(sqlite_url) == store.head()


def test_an_unknown_revision_is_a_usage_error(sqlite_url: str) -> None:
    result = db("upgrade", "no-such-revision", "--db", sqlite_url)
    assert result.exit_code == 2
    assert "no-such-revision" in result.stderr


def test_an_unreachable_store_exits_3_in_one_line_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://webhooks:hunter2-secret@127.0.0.1:{port}/store"
    result = db("current", "--db", url)
    assert result.exit_code == 3
    assert "hunter2" not in result.output
    assert result.stderr.startswith(
        "Error: cannot open the store postgresql+psycopg://webhooks:***@"
    )
    assert result.stderr.count("\n") == 1


@pytest.mark.postgres
def test_a_connected_store_is_shown_without_its_password(postgres_server: Any) -> None:
    # The test server trusts local users, so any password connects: it must never be printed.
    url = postgres_server.url.set(password="hunter2-secret").render_as_string(hide_password=False)
    result = db("current", "--db", url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert as_json(result)["database"] == sa.make_url(url).render_as_string(hide_password=True)


EXPORT_FILE = Path(__file__).parent / "fixtures" / "seed-export-line.ndjson"


def _store_with_one_event(url: str) -> None:
    loaded = CliRunner().invoke(cli, ["ingest", str(EXPORT_FILE), "--from", "export", "--db", url])
    assert loaded.exit_code == 0, loaded.output


@pytest.mark.parametrize("via", ["flag", "env"])
def test_a_downgrade_that_destroys_rows_needs_yes(db_url: str, via: str) -> None:
    _store_with_one_event(db_url)
    args, env = (["--db", db_url], None) if via == "flag" else ([], {"WEBHOOKS_MIGRATE_DB": db_url})
    refused = CliRunner().invoke(cli, ["db", "downgrade", "base", *args], env=env)
    assert refused.exit_code == 2, refused.output
    assert "events: 1 row" in refused.stderr
    assert "ingest_files: 1 row" in refused.stderr
    assert "--yes" in refused.stderr
    assert store.current(db_url) == store.head()  # nothing was done
    done = CliRunner().invoke(cli, ["db", "downgrade", "base", "--yes", *args], env=env)
    assert done.exit_code == 0, done.output
    assert store.current(db_url) is None


def test_a_downgrade_reports_what_it_destroyed_in_json(sqlite_url: str) -> None:
    _store_with_one_event(sqlite_url)
    result = db("downgrade", "base", "--db", sqlite_url, "--yes", "--format", "json")
    report = as_json(result)
    assert report["destroyed"] == {"events": 1, "ingest_files": 1}
    assert report["to"] is None


def test_a_downgrade_of_an_empty_store_does_not_ask(sqlite_url: str) -> None:
    assert db("upgrade", "--db", sqlite_url).exit_code == 0
    result = db("downgrade", "base", "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    assert store.current(sqlite_url) is None


def test_a_typed_confirmation_on_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'confirm.db'}"
    _store_with_one_event(url)
    for answer, code, revision in [("no", 2, store.head()), ("confirm.db", 0, None)]:
        status, output = _on_a_terminal(["db", "downgrade", "base", "--db", url], answer)
        assert status == code, output
        assert "events: 1 row" in output
        assert "type confirm.db" in output
        assert store.current(url) == revision


def _on_a_terminal(args: list[str], answer: str) -> tuple[int, str]:
    import os
    import pty
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-m", "migrate", *args])  # noqa: S606
    chunks: list[bytes] = []
    sent = False
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
        if not sent and b"to go on" in b"".join(chunks):
            os.write(fd, answer.encode() + b"\r")
            sent = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def test_a_relative_downgrade_that_destroys_rows_asks_too(sqlite_url: str) -> None:
    _store_with_one_event(sqlite_url)
    steps = len(store.revisions())
    refused = db("downgrade", "--db", sqlite_url, "--", f"-{steps}")
    assert refused.exit_code == 2, refused.output
    assert "events: 1 row" in refused.stderr
    assert store.current(sqlite_url) == store.head()
