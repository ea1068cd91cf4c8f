"""``webhooks-migrate db …`` through click's runner, as users and CI call it."""

from __future__ import annotations

import json
import socket
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
    assert downgraded == {"database": safe, "from": head, "to": None}
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
    assert result.stderr == "Error: 1 difference(s) between the models and the store\n"

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
