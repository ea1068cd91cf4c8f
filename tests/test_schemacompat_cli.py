"""``schema diff|export|check`` through the real command line, on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adapters import schema_registry
from migrate.cli import cli

REPO = Path(__file__).resolve().parent.parent
COMMITTED_BASELINE = REPO / "tests" / "schema-baseline"
SUFFIX = schema_registry.SUFFIX


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), "utf-8")
    return path


def exported(tmp_path: Path) -> Path:
    baseline = tmp_path / "baseline"
    assert run("schema", "export", baseline).exit_code == 0
    return baseline


OBJECT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"a": {"type": "string", "maxLength": 5}},
    "additionalProperties": False,
}


# -- diff -------------------------------------------------------------------------------------


def test_diff_of_identical_files_is_compatible_and_silent(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", OBJECT)
    result = run("schema", "diff", old, old, "--mode", "full")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "0 breaking, 0 warnings, 0 compatible (full, strict): compatible"
    ]


def test_diff_reports_each_change_and_exits_1_when_breaking(tmp_path: Path) -> None:
    new_doc = json.loads(json.dumps(OBJECT))
    new_doc["properties"]["a"]["maxLength"] = 3
    new_doc["properties"]["b"] = {"type": "integer"}
    old = write(tmp_path / "old.json", OBJECT)
    new = write(tmp_path / "new.json", new_doc)

    backward = run("schema", "diff", old, new)
    assert backward.exit_code == 1
    lines = backward.stdout.splitlines()
    assert "BREAKING MAX_LENGTH_DECREASED #/properties/a/maxLength: maxLength 5 -> 3" in lines
    assert any(
        line.startswith("ok PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL #/properties/b:")
        for line in lines
    )
    assert lines[-1] == "1 breaking, 0 warnings, 1 compatible (backward, strict): INCOMPATIBLE"
    assert backward.stderr.strip().splitlines() == [
        f"Error: {new} is not backward compatible with {old}"
    ]

    forward = run("schema", "diff", old, new, "--mode", "forward")
    assert forward.exit_code == 1
    assert any(
        line.startswith("BREAKING PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL")
        for line in forward.stdout.splitlines()
    )


def test_diff_json_output(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"type": "integer"})
    new = write(tmp_path / "new.json", {"type": "number"})
    result = run("schema", "diff", old, new, "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["compatible"] is True
    assert (report["mode"], report["policy"]) == ("backward", "strict")
    assert report["changes"] == [
        {
            "kind": "TYPE_EXTENDED",
            "pointer": "/type",
            "breaking": False,
            "status": "ok",
            "backward": "compatible",
            "forward": "breaking",
            "description": "type integer -> number",
        }
    ]
    full = json.loads(run("schema", "diff", old, new, "--format", "json", "--mode", "full").stdout)
    assert full["compatible"] is False
    assert full["changes"][0]["breaking"] is True


def test_lenient_policy_allows_a_property_added_to_an_open_object(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"type": "object", "properties": {"a": {}}})
    new = write(
        tmp_path / "new.json", {"type": "object", "properties": {"a": {}, "b": {"type": "string"}}}
    )
    assert run("schema", "diff", old, new).exit_code == 1
    assert run("schema", "diff", old, new, "--policy", "lenient").exit_code == 0


def test_uncheckable_is_breaking_under_strict_and_a_warning_under_lenient(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"type": "string", "not": {"const": "a"}})
    new = write(tmp_path / "new.json", {"type": "string", "not": {"const": "b"}})
    strict = run("schema", "diff", old, new)
    assert strict.exit_code == 1
    assert "BREAKING UNCHECKABLE #/not: the negated schema changed" in strict.stdout
    lenient = run("schema", "diff", old, new, "--policy", "lenient")
    assert lenient.exit_code == 0
    assert "warning UNCHECKABLE #/not" in lenient.stdout


def test_refs_to_sibling_files_resolve_in_each_files_own_directory(tmp_path: Path) -> None:
    item = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    payload = {"type": "array", "items": {"$ref": "item.json"}}
    old = write(tmp_path / "old" / "payload.json", payload)
    write(tmp_path / "old" / "item.json", item)
    new = write(tmp_path / "new" / "payload.json", payload)
    write(tmp_path / "new" / "item.json", {**item, "required": ["id", "name"]})

    result = run("schema", "diff", old, new)
    assert result.exit_code == 1
    assert "BREAKING REQUIRED_ATTRIBUTE_ADDED #/items/required: 'name' is now required" in (
        result.stdout
    )


def test_refs_to_shipped_schemas_resolve_by_id(tmp_path: Path) -> None:
    notification_id = schema_registry.load(schema_registry.V2_NOTIFICATION)["$id"]
    old = write(tmp_path / "old.json", {"type": "array", "items": {"$ref": notification_id}})
    new = write(
        tmp_path / "new.json",
        {"type": "array", "items": {"$ref": notification_id}, "maxItems": 10},
    )
    result = run("schema", "diff", old, new, "--format", "json")
    assert result.exit_code == 1
    kinds = [c["kind"] for c in json.loads(result.stdout)["changes"]]
    assert kinds == ["MAX_ITEMS_ADDED"]


def test_a_draft_07_file_compares_with_a_2020_12_file(tmp_path: Path) -> None:
    old = write(
        tmp_path / "old.json",
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"s": {"type": "string"}},
            "type": "array",
            "items": [{"$ref": "#/definitions/s"}],
            "additionalItems": False,
        },
    )
    new = write(
        tmp_path / "new.json",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "array",
            "prefixItems": [{"type": "string"}],
            "items": False,
        },
    )
    assert run("schema", "diff", old, new, "--mode", "full").exit_code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON: line 1 column 2"),
        ('{"type": 12}', "not a valid JSON Schema at /type"),
        ('{"$ref": "missing.json"}', "cannot resolve $ref 'missing.json' at /"),
        ("[1, 2]", "not a JSON Schema (a list)"),
    ],
)
def test_a_bad_schema_file_is_one_line_and_exit_1(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, "utf-8")
    good = write(tmp_path / "good.json", {"type": "string"})
    result = run("schema", "diff", bad, good)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {bad}: {message}")
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", {"type": "string"})
    assert run("schema", "diff", tmp_path / "nope.json", good).exit_code == 2
    assert run("schema", "diff", good, good, "--mode", "sideways").exit_code == 2
    assert run("schema", "check").exit_code == 2


# -- export and check -------------------------------------------------------------------------


def test_export_writes_every_shipped_schema_byte_for_byte_and_drops_stale_ones(
    tmp_path: Path,
) -> None:
    baseline = tmp_path / "baseline"
    write(baseline / ("retired" + SUFFIX), {"type": "string"})
    write(baseline / "notes.json", {"kept": True})
    result = run("schema", "export", baseline)
    assert result.exit_code == 0, result.output
    assert f"removed {baseline / ('retired' + SUFFIX)}" in result.stderr
    names = sorted(p.name for p in baseline.glob("*" + SUFFIX))
    assert names == sorted(n + SUFFIX for n in schema_registry.names())
    for name in schema_registry.names():
        shipped = (schema_registry.schema_dir() / (name + SUFFIX)).read_bytes()
        assert (baseline / (name + SUFFIX)).read_bytes() == shipped
    assert (baseline / "notes.json").exists()  # only schema files are managed


def test_check_against_a_fresh_export_passes(tmp_path: Path) -> None:
    result = run("schema", "check", "--baseline", exported(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith("(full, strict): compatible")


def test_check_finds_a_breaking_change_through_a_ref_between_shipped_files(
    tmp_path: Path,
) -> None:
    baseline = exported(tmp_path)
    # Pretend the baseline limited hashes to 10 characters: the shipped schema accepts more,
    # and v2-payload (which $refs v2-notification) must see it through the baseline's own copy.
    path = baseline / (schema_registry.V2_NOTIFICATION + SUFFIX)
    document = json.loads(path.read_text("utf-8"))
    document["properties"]["hash"]["maxLength"] = 10
    path.write_text(json.dumps(document), "utf-8")

    result = run("schema", "check", "--baseline", baseline, "--mode", "backward")
    assert result.exit_code == 0, result.output  # NEW accepts everything OLD accepted
    result = run("schema", "check", "--baseline", baseline, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["compatible"] is False
    assert report["mode"] == "full"
    by_file = {f["file"]: f for f in report["files"]}
    for name, pointer in (
        ("v2-notification", "/properties/hash/maxLength"),
        ("v2-payload", "/items/properties/hash/maxLength"),
    ):
        entry = by_file[name + SUFFIX]
        assert (entry["status"], entry["compatible"]) == ("changed", False)
        assert [(c["kind"], c["pointer"]) for c in entry["changes"]] == [
            ("MAX_LENGTH_REMOVED", pointer)
        ]
    assert by_file["summary" + SUFFIX] == {
        "file": "summary" + SUFFIX,
        "status": "unchanged",
        "compatible": True,
        "changes": [],
    }


def test_check_added_and_removed_files(tmp_path: Path) -> None:
    baseline = exported(tmp_path)
    (baseline / ("summary" + SUFFIX)).unlink()
    added = run("schema", "check", "--baseline", baseline)
    assert added.exit_code == 0, added.output
    assert f"summary{SUFFIX}: ok SCHEMA_FILE_ADDED #:" in added.stdout

    write(baseline / ("retired" + SUFFIX), {"type": "string"})
    removed = run("schema", "check", "--baseline", baseline, "--format", "json")
    assert removed.exit_code == 1
    entry = next(f for f in json.loads(removed.stdout)["files"] if f["file"] == "retired" + SUFFIX)
    assert entry["status"] == "removed"
    assert entry["changes"][0]["kind"] == "SCHEMA_FILE_REMOVED"
    assert entry["changes"][0]["breaking"] is True


def test_check_refuses_an_empty_baseline(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("schema", "check", "--baseline", empty)
    assert result.exit_code == 1
    assert "no *.schema.json files" in result.stderr


def test_check_reports_an_invalid_baseline_file(tmp_path: Path) -> None:
    baseline = exported(tmp_path)
    broken = baseline / ("summary" + SUFFIX)
    broken.write_text("{", "utf-8")
    result = run("schema", "check", "--baseline", baseline)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {broken}: not valid JSON: line 1 column 2: " + (
        "Expecting property name enclosed in double quotes"
    )


def test_the_committed_baseline_matches_the_shipped_schemas() -> None:
    """What .ci/run checks. On failure: review the change, then `schema export` deliberately."""
    result = run("schema", "check", "--baseline", COMMITTED_BASELINE, "--mode", "full")
    assert result.exit_code == 0, result.output


def test_the_console_entry_point_exits_1_without_a_traceback(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"type": "number"})
    new = write(tmp_path / "new.json", {"type": "integer"})
    done = subprocess.run(
        [sys.executable, "-m", "migrate", "schema", "diff", str(old), str(new)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "BREAKING TYPE_NARROWED #/type: type number -> integer" in done.stdout
    assert "Traceback" not in done.stderr
