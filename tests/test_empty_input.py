"""An input with no records is a problem, not a pass (issue 12, item 8): a warning and exit 1
for convert, ingest, validate and verify (``--allow-empty`` accepts it), and no ledger row."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_verify_support import jwks_file, keys  # noqa: F401 - pytest fixtures are used by name

from migrate.cli import cli
from migrate.store import make_engine


def commands(path: str, tmp_path: Path, jwks: Path) -> dict[str, list[str]]:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    return {
        "convert": ["convert", path, "--from", "export", "-o", str(tmp_path / "out.ndjson")],
        "ingest": ["ingest", path, "--from", "export", "--db", db],
        "validate": ["validate", path, "--as", "export"],
        "verify": ["verify", path, "--jwks", str(jwks)],
    }


@pytest.mark.parametrize("command", ["convert", "ingest", "validate", "verify"])
@pytest.mark.parametrize("source", ["empty file", "blank lines", "empty stdin"])
def test_an_empty_input_warns_and_exits_1_unless_allowed(
    tmp_path: Path, jwks_file: Path, command: str, source: str
) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_text("\n\n  \n" if source == "blank lines" else "")
    path = "-" if source == "empty stdin" else str(empty)
    argv = commands(path, tmp_path, jwks_file)[command]
    result = CliRunner().invoke(cli, argv, input=b"")
    assert result.exit_code == 1, result.output
    assert "no records" in result.stderr
    assert "--allow-empty" in result.stderr
    allowed = CliRunner().invoke(cli, [*argv, "--allow-empty"], input=b"")
    assert allowed.exit_code == 0, allowed.output
    if command == "ingest":
        engine = make_engine(argv[-1])
        with engine.connect() as conn:
            files = conn.execute(sa.text("SELECT COUNT(*) FROM ingest_files")).scalar_one()
        engine.dispose()
        assert files == 0  # no ledger row for nothing
