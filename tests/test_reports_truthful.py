"""Reports say what happened (issue 12, item 11): a dry run "would insert", a signature summary
that counts verified and refused tokens, the stored signature_verified flag as documented, and
docs that match the code on timestamps, U+0000 and what --rejects keeps of a huge record."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from strategies import export_claims
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    jwks_file,
    keys,
    make_claims,
    sign,
)

from migrate.cli import cli
from migrate.store import make_engine

DOCS = Path(__file__).parent.parent / "docs"


def test_a_dry_run_says_would_insert(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "e.ndjson"
    path.write_text(json.dumps(export_claims(1)) + "\n")
    result = CliRunner().invoke(
        cli, ["ingest", str(path), "--from", "export", "--db", sqlite_url, "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "would insert 1" in result.stdout
    assert "inserted" not in result.stdout


def test_signatures_are_not_called_verified_when_every_token_was_refused(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    path = tmp_path / "t.txt"
    path.write_text(sign(keys.foreign, make_claims(jti="x")) + "\nnot-a-token\n")
    argv = ["ingest", str(path), "--from", "set", "--db", sqlite_url, "--jwks", str(jwks_file)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("signatures:"))
    assert line == "signatures: checked against the keys: 0 verified, 2 refused"
    good = tmp_path / "g.txt"
    good.write_text(sign(keys.trusted[0], make_claims(jti="y")) + "\n")
    result = CliRunner().invoke(cli, [*argv[:1], str(good), *argv[2:], "--format", "json"])
    assert (
        json.loads(result.stdout)["signatures"] == "checked against the keys: 1 verified, 0 refused"
    )


def test_the_stored_flag_means_what_the_docs_say(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    tokens = tmp_path / "t.txt"
    tokens.write_text(sign(keys.trusted[0], make_claims(jti="checked")) + "\n")
    unchecked = tmp_path / "u.txt"
    unchecked.write_text(sign(keys.trusted[0], make_claims(jti="unchecked")) + "\n")
    export = tmp_path / "e.ndjson"
    export.write_text(json.dumps(export_claims(1)) + "\n")
    run = CliRunner().invoke
    assert (
        run(
            cli,
            ["ingest", str(tokens), "--from", "set", "--db", sqlite_url, "--jwks", str(jwks_file)],
        ).exit_code
        == 0
    )
    assert (
        run(
            cli, ["ingest", str(unchecked), "--from", "set", "--db", sqlite_url, "--no-verify"]
        ).exit_code
        == 0
    )
    assert run(cli, ["ingest", str(export), "--from", "export", "--db", sqlite_url]).exit_code == 0
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT event_id, signature_verified FROM events")).all())
    engine.dispose()
    assert rows == {"checked": 1, "unchecked": 0, export_claims(1)["jti"]: None}
    store = (DOCS / "store.md").read_text()
    assert "NULL: never checked" in store
    assert "false: loaded with `--no-verify`" in store


def test_the_store_docs_match_the_code_on_times_and_nul() -> None:
    store = (DOCS / "store.md").read_text()
    assert "SQLite and MariaDB keep it" not in store  # U+0000 is refused on every backend
    assert "U+0000" in store
    assert "refused on every backend" in store
    assert "milliseconds" in store  # times from the unified event and ingest's own stamps


def test_rejects_say_they_keep_a_prefix_of_a_huge_record(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    path.write_text(json.dumps({"x": "y" * 10_000}) + "\n")
    rejects = tmp_path / "rejects.ndjson"
    argv = ["convert", str(path), "--from", "export", "--max-record-bytes", "2048"]
    result = CliRunner().invoke(cli, [*argv, "--rejects", str(rejects), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    (row,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert row["raw"].startswith(row["raw"][:4096])
    assert row["raw"].endswith("[10009 bytes in all]")
    assert len(row["raw"]) < 4096 + 30
    assert "first 4,096 bytes" in row["message"]
    assert "first 4,096 bytes" in (DOCS / "commands.md").read_text()
