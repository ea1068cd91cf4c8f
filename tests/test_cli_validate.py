"""``webhooks-migrate validate``: every problem as ``file:line: pointer: message``, every kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from strategies import HEADER_ALG_KID, compact

from migrate.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
NOTIFICATION = json.loads((FIXTURES / "seed-v2-payload.json").read_text("utf-8"))[0]
EXPORT_LINE = json.loads((FIXTURES / "seed-export-line.ndjson").read_text("utf-8"))
RECORD = json.loads((FIXTURES / "seed-events-record-wrapped-token.json").read_text("utf-8"))
SUMMARY = json.loads((FIXTURES / "seed-summary.json").read_text("utf-8"))


def run(*args: Any) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(tmp_path: Path, name: str, lines: list[Any]) -> Path:
    path = tmp_path / name
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", "utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("v2", "seed-v2-payload.json"),
        ("set", "seed-set-wrapped-token.txt"),
        ("set", "set-wrapped-token-nbsp-indent.txt"),
        ("export", "seed-export-line.ndjson"),
        ("events", "seed-events-record-wrapped-token.json"),
        ("summary", "seed-summary.json"),
    ],
)
def test_the_documented_examples_are_valid(kind: str, name: str) -> None:
    result = run("validate", FIXTURES / name, "--as", kind)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == "1 record checked, 0 invalid, 0 problems"


def test_each_problem_is_one_line_with_file_line_pointer_and_message(tmp_path: Path) -> None:
    missing_and_wrong = {k: v for k, v in NOTIFICATION.items() if k != "uuid"}
    missing_and_wrong["hash"] = 7
    path = write(
        tmp_path,
        "v2.ndjson",
        [[NOTIFICATION], [NOTIFICATION, missing_and_wrong], [dict(NOTIFICATION, datetime="soon")]],
    )
    result = run("validate", path, "--as", "v2")
    assert result.exit_code == 1
    first, second, third = result.stdout.splitlines()
    assert first == f"{path}:2: /1/uuid: required property 'uuid' is missing"
    assert second == f"{path}:2: /1/hash: 7 is not of type 'string'"
    assert third.startswith(f"{path}:3: /0/datetime: 'soon' does not match ")
    assert result.stderr.splitlines()[0] == "4 records checked, 2 invalid, 3 problems"


@pytest.mark.parametrize(
    ("kind", "lines", "expected"),
    [
        (
            "export",
            [EXPORT_LINE, dict(EXPORT_LINE, toe="1559372000"), dict(EXPORT_LINE, events={})],
            [(2, "/toe"), (3, "/events")],
        ),
        (
            "export",
            [dict(EXPORT_LINE, events={"entityCreated": {}, "entityDeleted": {}}), "{oops"],
            [(1, "/events"), (2, "")],
        ),
        (
            "set",
            [
                compact(HEADER_ALG_KID, EXPORT_LINE),
                "",
                compact({"kid": "k"}, EXPORT_LINE),
                "",
                compact(HEADER_ALG_KID, dict(EXPORT_LINE, iat=-1)),
                "",
                "not.a.token",
            ],
            [(3, "/header/alg"), (5, "/claims/iat"), (7, "/header")],
        ),
        (
            "events",
            [RECORD, dict(RECORD, eventType="entityDeleted"), dict(RECORD, attempts="1")],
            [(2, "/eventType"), (3, "/attempts")],
        ),
        (
            "events",
            [
                dict(
                    RECORD, request={"payload": compact(HEADER_ALG_KID, dict(EXPORT_LINE, toe="x"))}
                )
            ],
            [(1, "/request/payload/claims/toe")],
        ),
        (
            "summary",
            [
                SUMMARY,
                dict(SUMMARY, total=99),
                dict(SUMMARY, exportable=19),
                dict(SUMMARY, failed=-1),
                {k: v for k, v in SUMMARY.items() if k != "updatedAt"},
            ],
            [(2, "/total"), (3, "/exportable"), (4, "/failed"), (5, "/updatedAt")],
        ),
    ],
)
def test_problems_point_into_the_record(
    tmp_path: Path, kind: str, lines: list[Any], expected: list[tuple[int, str]]
) -> None:
    path = write(tmp_path, "input.txt", lines)
    result = run("validate", path, "--as", kind, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["kind"] == kind
    assert report["valid"] is False
    assert report["invalid"] == len(expected)
    assert [(p["line"], p["pointer"]) for p in report["problems"]] == expected
    assert all(p["file"] == str(path) and p["message"] for p in report["problems"])


def test_the_summary_invariants_are_explained(tmp_path: Path) -> None:
    path = write(tmp_path, "summary.json", [dict(SUMMARY, total=99, exportable=19)])
    result = run("validate", path, "--as", "summary")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:1: /total: total (99) != succeeded + retrying + failed (70 + 12 + 18 = 100)",
        f"{path}:1: /exportable: exportable (19) > failed (18)",
    ]


def test_what_convert_writes_is_valid_unified_input(tmp_path: Path) -> None:
    converted = CliRunner().invoke(
        cli,
        ["convert", str(FIXTURES / "seed-events-record-wrapped-token.json"), "--from", "events"],
    )
    assert converted.exit_code == 0
    out = tmp_path / "unified.ndjson"
    out.write_text(converted.stdout, "utf-8")
    result = run("validate", out, "--as", "unified", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "kind": "unified",
        "valid": True,
        "records": 1,
        "invalid": 0,
        "problems": [],
    }
    tampered = json.loads(converted.stdout)
    tampered["occurred_at"] = "2020-01-27T16:53:50Z"
    del tampered["payload"]
    out.write_text(json.dumps(tampered) + "\n", "utf-8")
    result = run("validate", out, "--as", "unified")
    assert result.exit_code == 1
    assert sorted(line.split(": ")[1] for line in result.stdout.splitlines()) == [
        "/occurred_at",
        "/payload",
    ]


def test_validate_passes_exactly_what_convert_converts(tmp_path: Path) -> None:
    lines = [
        EXPORT_LINE,
        dict(EXPORT_LINE, iat=1e300),  # schema-valid, but no time: convert rejects it
        dict(EXPORT_LINE, events={"": {}}),
        dict(EXPORT_LINE, aud=7),
        "[1, 2",
        "\u00e9t\u00e9",
    ]
    path = write(tmp_path, "input.ndjson", lines)
    rejects = tmp_path / "rejects.ndjson"
    validated = run("validate", path, "--as", "export", "--format", "json")
    converted = run("convert", path, "--from", "export", "--rejects", rejects)
    invalid_lines = {p["line"] for p in json.loads(validated.stdout)["problems"]}
    rejected = {json.loads(line)["line"] for line in rejects.read_text("utf-8").splitlines()}
    assert invalid_lines == rejected == {2, 3, 4, 5, 6}
    assert validated.exit_code == converted.exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["validate", str(FIXTURES / "seed-summary.json"), "--as", "v3"],
        ["validate", str(FIXTURES / "seed-summary.json")],
        ["validate", "/no/such/file", "--as", "summary"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
