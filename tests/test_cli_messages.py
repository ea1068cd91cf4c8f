"""Messages as users read them: counted nouns agree with their number, nothing said twice."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from migrate.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
TOKENS = FIXTURES / "seed-set-wrapped-token.txt"


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def one_bad_line(tmp_path: Path) -> Path:
    path = tmp_path / "one.ndjson"
    path.write_text("{not json\n", "utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["convert", "--from", "export"],
        ["validate", "--as", "export"],
        ["ingest", "--from", "export"],
    ],
)
def test_one_record_is_one_record(command: list[str], one_bad_line: Path, tmp_path: Path) -> None:
    extra = ["--db", f"sqlite:///{tmp_path / 's.db'}"] if command[0] == "ingest" else []
    result = run(command[0], one_bad_line, *command[1:], *extra)
    assert result.exit_code == 1, result.output
    assert re.search(r"\b1 records\b", result.output) is None, result.output
    assert re.search(r"\b1 problems\b", result.output) is None, result.output
    assert re.search(r"\b1 of 1 record\b", result.stderr), result.stderr


def _said_twice(line: str) -> bool:
    """Whether a line repeats one of its own colon-separated parts ("x: x ...")."""
    parts = [p.strip() for p in line.removeprefix("Error: ").split(":") if p.strip()]
    return any(b.startswith(a) for a, b in itertools.pairwise(parts))


@pytest.mark.parametrize("command", ["ingest", "verify"])
def test_a_jwks_that_cannot_be_fetched_is_said_once(command: str, tmp_path: Path) -> None:
    jwks = "http://127.0.0.1:9/jwks.json"  # nothing listens on the discard port
    args = [command, TOKENS, "--jwks", jwks]
    if command == "ingest":
        args += ["--from", "set", "--db", f"sqlite:///{tmp_path / 's.db'}"]
    result = run(*args)
    assert result.exit_code == 3, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.count("cannot fetch the JWKS") == 1, line
    assert not _said_twice(line), line
    assert json.dumps(jwks)[1:-1] in line
