"""One error tree, one place it becomes an exit code: bugs exit 70, outages 3, bad --db URLs 2,
a closed pipe ends quietly (141), Ctrl-C exits 130 and says how far ingest got."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from strategies import closed_port, export_claims

from migrate.cli import cli
from migrate.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OPERATIONAL,
    EXIT_SOFTWARE,
    BadStoreUrl,
    exit_code_of,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def export_lines(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(export_claims(n)) + "\n")
    return path


@contextlib.contextmanager
def a_command_with_a_bug() -> Iterator[None]:
    """A command whose body has a bug, registered beside the real ones for this test."""

    @click.command("test-bug")
    def bug() -> None:
        {}["missing"]  # the bug

    cli.add_command(bug)
    try:
        yield
    finally:
        cli.commands.pop("test-bug")


def test_a_bug_exits_70_with_one_line_and_the_traceback_only_under_debug() -> None:
    with a_command_with_a_bug():
        result = run("test-bug")
        debug = run("--debug", "test-bug")
    assert result.exit_code == EXIT_SOFTWARE
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "internal error: KeyError: 'missing' (a bug in webhooks-migrate"
    )
    assert "--debug" in result.stderr
    assert "Traceback" not in result.output
    assert debug.exit_code == EXIT_SOFTWARE
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == result.stderr.strip()


def test_an_unreachable_store_still_exits_3(tmp_path: Path) -> None:
    path = str(export_lines(tmp_path / "a.ndjson", 2))
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/store"
    for args in (("db", "current", "--db", url), ("ingest", path, "--from", "export", "--db", url)):
        result = run(*args)
        assert result.exit_code == 3, result.output
        assert result.stderr.startswith("Error: cannot open the store postgresql+psycopg://")
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mysql+pymysql://root@127.0.0.1:3306/", "no database name"),
        ("postgresql://postgres@127.0.0.1:5432", "no database name"),
        ("postgresql://postgres@127.0.0.1:5432/", "no database name"),
        ("/tmp/x.db", "not a URL (a file? sqlite:////tmp/x.db)"),
        ("sqlite:/x.db", "not a URL"),
        ("foo://x", "unknown backend 'foo'"),
        ("postgresql://127.0.0.1:notaport/db", "Port could not be cast"),
    ],
)
def test_a_bad_store_url_is_a_usage_error_with_the_accepted_forms(
    tmp_path: Path, url: str, why: str
) -> None:
    path = str(export_lines(tmp_path / "a.ndjson", 1))
    for args in (("db", "current", "--db", url), ("ingest", path, "--from", "export", "--db", url)):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"Error: --db {url}: {why}")
        assert f"accepted forms: {BadStoreUrl.FORMS}" in result.stderr


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "migrate", *args]


def test_a_closed_pipe_ends_quietly_with_the_sigpipe_status(tmp_path: Path) -> None:
    path = str(export_lines(tmp_path / "a.ndjson", 20_000))
    for source in (path, "-"):
        with open(path, "rb") as stdin:
            proc = subprocess.Popen(
                command("convert", source, "--from", "export"),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=tmp_path,
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            proc.stdout.readline()
            proc.stdout.close()  # what `| head -1` does
            stderr = proc.stderr.read()
            assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE, stderr
            proc.stderr.close()
        assert stderr == b""


def ledger_line(store: Path) -> int:
    if not store.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        try:
            row = conn.execute("SELECT max(last_line) FROM ingest_files").fetchone()
        except sqlite3.OperationalError:  # not created yet
            return 0
    return int(row[0] or 0)


def test_ctrl_c_exits_130_saying_what_was_committed_and_the_rerun_resumes(
    tmp_path: Path,
) -> None:
    path = export_lines(tmp_path / "big.ndjson", 200_000)
    store = tmp_path / "store.db"
    args = command("ingest", str(path), "--from", "export", "--db", f"sqlite:///{store}")
    proc = subprocess.Popen(
        [*args, "--commit-every", "1000", "--batch-size", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while ledger_line(store) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    committed = ledger_line(store)
    assert 0 < committed < 200_000, "the ingest finished before it could be interrupted"
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert stderr.decode() == (
        f"interrupted: committed through line {committed:,} of {path}; "
        "run the same command to resume\n"
    )
    again = subprocess.run([*args, "--format", "json"], capture_output=True, check=True)
    (report,) = json.loads(again.stdout)["files"]
    assert report["resumed_from_line"] == committed
    assert (report["read"], report["inserted"]) == (200_000, 200_000)


def sqlite_error(tmp_path: Path, sql: str, *, locked: bool = False) -> sqlite3.OperationalError:
    """The OperationalError SQLite itself raises for ``sql`` (optionally behind a held lock)."""
    path = tmp_path / "raw.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (k TEXT)")
    if locked:
        holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute(sql)
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError(f"{sql!r} did not fail")


@pytest.mark.parametrize(
    ("sql", "locked", "expected"),
    [
        ("SELECT missing FROM t", False, EXIT_SOFTWARE),  # no such column: a bug
        ("SELEC k FROM t", False, EXIT_SOFTWARE),  # a syntax error: a bug
        ("SELECT k FROM nowhere", False, EXIT_SOFTWARE),  # no such table: a bug
        ("INSERT INTO t VALUES ('x')", True, EXIT_OPERATIONAL),  # database is locked
    ],
)
def test_only_sqlite_unavailability_is_operational(
    tmp_path: Path, sql: str, locked: bool, expected: int
) -> None:
    assert exit_code_of(sqlite_error(tmp_path, sql, locked=locked)) == expected
    assert exit_code_of(sqlite3.OperationalError("unable to open database file")) == 3
    assert exit_code_of(sqlite3.OperationalError("disk I/O error")) == 3
    assert exit_code_of(sqlite3.OperationalError("attempt to write a readonly database")) == 3
    assert exit_code_of(sqlite3.OperationalError("database or disk is full")) == 3
