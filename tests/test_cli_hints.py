"""Messages that say what to do (issue 12, item 12): a JSON array where NDJSON objects are
expected, an events-store file read as export lines, and ``validate --as`` named right."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from migrate.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_json_array_line_says_so_and_names_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "arrays.ndjson"
    path.write_text(json.dumps([{"a": 1}, {"b": 2}]) + "\n")
    for argv in (
        ["convert", str(path), "--from", "export"],
        ["validate", str(path), "--as", "export"],
    ):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 1
        text = result.stdout + result.stderr
        assert "this is a JSON array" in text
        assert "v2" in text.split("this is a JSON array")[1]
        assert "{'a': 1}" not in text  # no Python repr


def test_an_events_store_file_read_as_export_hints_at_events() -> None:
    path = FIXTURES / "seed-events-record-wrapped-token.json"
    result = CliRunner().invoke(cli, ["convert", str(path), "--from", "export"])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert "--from events" in first


def test_validate_help_names_as() -> None:
    result = CliRunner().invoke(cli, ["validate", "--help"])
    assert "--as KIND" in result.stdout
