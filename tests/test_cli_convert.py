"""``webhooks-migrate convert``: output, rejects, summaries and exit codes, as a user meets them."""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from strategies import HEADER_ALG_KID, compact

from migrate.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
V2_FILE = FIXTURES / "seed-v2-payload.json"
EXPORT_FILE = FIXTURES / "seed-export-line.ndjson"
NOTIFICATION = json.loads(V2_FILE.read_text("utf-8"))[0]
EXPORT_LINE = json.loads(EXPORT_FILE.read_text("utf-8"))
SEED_V2_ID = "1b257a32-51ab-51b9-bb84-6a446f04ea63"
BIN = Path(sys.executable).parent
SUMMARY = re.compile(r"^read (\d+), converted (\d+), rejected (\d+)(?: \((.*)\))?$")


def run(*args: Any, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, input=stdin)


def events_of(stdout: str) -> list[dict[str, Any]]:
    # split("\n"), not splitlines(): U+2028 inside a JSON string is not a line break in NDJSON.
    return [json.loads(line) for line in stdout.split("\n") if line]


def summary_of(stderr: str) -> tuple[int, int, int, dict[str, int]]:
    """The one-line count summary; its numbers must add up."""
    matches = [SUMMARY.match(line) for line in stderr.splitlines()]
    found = [m for m in matches if m]
    assert len(found) == 1, stderr
    read, converted, rejected, reasons = found[0].groups()
    by_reason = {}
    for part in (reasons or "").split(", "):
        if part:
            reason, count = part.split(": ")
            by_reason[reason] = int(count)
    assert int(read) == int(converted) + int(rejected)
    assert sum(by_reason.values()) == int(rejected)
    return int(read), int(converted), int(rejected), by_reason


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Three good export lines around two bad ones (line 2: wrong type, line 4: not JSON)."""
    lines = [
        json.dumps(dict(EXPORT_LINE, jti="first")),
        json.dumps(dict(EXPORT_LINE, jti="second", toe="1559372000")),
        json.dumps(dict(EXPORT_LINE, jti="third")),
        '{"iss": "x", "iat": ',
        json.dumps(dict(EXPORT_LINE, jti="fifth")),
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_a_clean_conversion_exits_0_with_events_on_stdout_and_the_summary_on_stderr() -> None:
    result = run("convert", V2_FILE, "--from", "v2")
    assert result.exit_code == 0, result.output
    (event,) = events_of(result.stdout)
    assert event["event_id"] == SEED_V2_ID
    assert event["payload"] == NOTIFICATION
    assert summary_of(result.stderr) == (1, 1, 0, {})
    assert "Traceback" not in result.output


def test_rejects_exit_1_and_the_good_lines_still_convert(mixed: Path) -> None:
    result = run("convert", mixed, "--from", "export")
    assert result.exit_code == 1
    assert [e["event_id"] for e in events_of(result.stdout)] == ["first", "third", "fifth"]
    assert summary_of(result.stderr) == (5, 3, 2, {"schema": 1, "truncated": 1})
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(mixed))]
    assert problems == [
        f"{mixed}:2: /toe: '1559372000' is not of type 'number' (schema)",
        f"{mixed}:4: (root): JSON ends early: Expecting value at column 21 (truncated)",
    ]
    assert "Traceback" not in result.output


def test_the_rejects_file_holds_each_rejected_record_whole(mixed: Path, tmp_path: Path) -> None:
    big = dict(EXPORT_LINE, jti="big", iat="soon", padding="p" * 10_000)  # beyond 4 KB
    with mixed.open("a", encoding="utf-8") as f:
        f.write(json.dumps(big) + "\n")
    rejects_path = tmp_path / "rejects.ndjson"
    result = run("convert", mixed, "--from", "export", "--rejects", rejects_path)
    assert result.exit_code == 1
    rejects = [json.loads(line) for line in rejects_path.read_text("utf-8").splitlines()]
    assert [(r["file"], r["line"], r["pointer"], r["reason"]) for r in rejects] == [
        (str(mixed), 2, "/toe", "schema"),
        (str(mixed), 4, "", "truncated"),
        (str(mixed), 6, "/iat", "schema"),
    ]
    original = mixed.read_text("utf-8").splitlines()
    assert [r["raw"] for r in rejects] == [original[1], original[3], original[5]]
    assert json.loads(rejects[2]["raw"]) == big
    assert all(r["message"] for r in rejects)


def test_rejected_v2_elements_are_kept_as_themselves(tmp_path: Path) -> None:
    bad = dict(NOTIFICATION, uuid="not-a-uuid")
    line = json.dumps([NOTIFICATION] * 40 + [bad])  # the bad one is beyond the first 4 KB
    path = tmp_path / "v2.ndjson"
    path.write_text(line + "\n", "utf-8")
    rejects_path = tmp_path / "rejects.ndjson"
    result = run("convert", path, "--from", "v2", "--rejects", rejects_path)
    assert result.exit_code == 1
    (reject,) = [json.loads(x) for x in rejects_path.read_text("utf-8").splitlines()]
    assert (reject["line"], reject["pointer"], reject["reason"]) == (1, "/40/uuid", "schema")
    assert json.loads(reject["raw"]) == bad


def test_json_summary(mixed: Path) -> None:
    result = run("convert", mixed, "--from", "export", "--format", "json")
    assert result.exit_code == 1
    start = result.stderr.index("{")
    report, _ = json.JSONDecoder().raw_decode(result.stderr[start:])
    assert report == {
        "read": 5,
        "converted": 3,
        "rejected": 2,
        "by_reason": {"schema": 1, "truncated": 1},
    }
    assert len(events_of(result.stdout)) == 3  # stdout stays pure NDJSON


@pytest.mark.parametrize(
    "args",
    [
        ["convert", str(V2_FILE), "--from", "v4"],
        ["convert", str(V2_FILE)],
        ["convert", "--from", "v2"],
        ["convert", "/no/such/file.json", "--from", "v2"],
        ["convert", str(FIXTURES), "--from", "v2"],
        ["convert", str(V2_FILE), "--from", "v2", "--v2-kind", "MERGE"],
        ["convert", str(V2_FILE), "--from", "v2", "--max-record-bytes", "10"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("kind", "event_type"), [("ADD", "entityCreated"), ("DELETE", "entityDeleted")]
)
def test_v2_kind_sets_the_event_type(kind: str, event_type: str) -> None:
    result = run("convert", V2_FILE, "--from", "v2", "--v2-kind", kind)
    assert result.exit_code == 0
    assert [e["event_type"] for e in events_of(result.stdout)] == [event_type]


@pytest.mark.parametrize("via", ["flag", "env"])
def test_a_matching_v2_hash_converts(via: str) -> None:
    expected = NOTIFICATION["hash"]
    args = ["convert", V2_FILE, "--from", "v2"]
    if via == "flag":
        result = run(*args, "--v2-hash", expected)
    else:
        result = run(*args, env={"WEBHOOKS_MIGRATE_V2_HASH": expected})
    assert result.exit_code == 0
    assert events_of(result.stdout)[0]["v2_hash"] == expected


@pytest.mark.parametrize("via", ["flag", "env"])
def test_a_v2_hash_mismatch_is_rejected_and_the_expected_hash_never_shown(
    via: str, tmp_path: Path
) -> None:
    secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
    rejects_path = tmp_path / "rejects.ndjson"
    args = ["convert", V2_FILE, "--from", "v2", "--rejects", rejects_path, "--format", "json"]
    if via == "flag":
        result = run(*args, "--v2-hash", secret)
    else:
        result = run(*args, env={"WEBHOOKS_MIGRATE_V2_HASH": secret})
    assert result.exit_code == 1
    assert result.stdout == ""
    (reject,) = [json.loads(x) for x in rejects_path.read_text("utf-8").splitlines()]
    assert (reject["line"], reject["pointer"], reject["reason"]) == (2, "/0/hash", "hash_mismatch")
    everything = result.output + rejects_path.read_text("utf-8")
    assert secret not in everything


def test_output_file_appears_complete_with_ordinary_permissions(tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    result = run("convert", EXPORT_FILE, V2_FILE, "--from", "export", "-o", out)
    # The v2 file is not export lines: its element is rejected, the export line converts.
    assert result.exit_code == 1
    assert result.stdout == ""
    assert [e["event_id"] for e in events_of(out.read_text("utf-8"))] == [EXPORT_LINE["jti"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.ndjson"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_output_replaces_an_existing_file_only_when_done(tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    out.write_text("old\n", "utf-8")
    broken = tmp_path / "broken.ndjson.gz"
    data = gzip.compress(
        "\n".join(json.dumps(dict(EXPORT_LINE, jti=str(i))) for i in range(2000)).encode()
    )
    broken.write_bytes(data[: len(data) // 2])  # a partial download
    result = run("convert", EXPORT_FILE, broken, "--from", "export", "-o", out)
    assert result.exit_code == 1
    events = events_of(out.read_text("utf-8"))
    assert events[0]["event_id"] == EXPORT_LINE["jti"]
    assert len(events) > 2  # what came before the cut converted
    reasons = summary_of(result.stderr)[3]
    assert reasons.get("truncated", 0) >= 1
    assert "the file is incomplete" in result.stderr


def test_an_output_directory_that_does_not_exist_is_an_operational_one_liner(
    tmp_path: Path,
) -> None:
    out = tmp_path / "missing" / "events.ndjson"
    result = run("convert", V2_FILE, "--from", "v2", "-o", out)
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    assert not out.parent.exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "events.ndjson"
    cmd = [BIN / "webhooks-migrate", "--debug", "convert", V2_FILE, "--from", "v2", "-o", out]
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "FileNotFoundError" in result.stderr


def test_stdin_and_several_files(tmp_path: Path) -> None:
    token = compact(HEADER_ALG_KID, dict(EXPORT_LINE, jti="from-stdin"))
    path = tmp_path / "tokens.txt"
    path.write_text(compact(HEADER_ALG_KID, dict(EXPORT_LINE, jti="from-file")) + "\n", "utf-8")
    result = run("convert", "-", path, "--from", "set", stdin=(token + "\n").encode())
    assert result.exit_code == 0, result.output
    assert [e["event_id"] for e in events_of(result.stdout)] == ["from-stdin", "from-file"]
    assert summary_of(result.stderr) == (2, 2, 0, {})


def test_events_store_records_carry_their_delivery() -> None:
    result = run("convert", FIXTURES / "seed-events-record-wrapped-token.json", "--from", "events")
    assert result.exit_code == 0, result.output
    (event,) = events_of(result.stdout)
    assert event["delivery"]["state"] == "success"
    assert event["occurred_at"] == "2020-01-27T16:53:50.739Z"


def test_the_console_script_reads_stdin_in_a_real_process() -> None:
    result = subprocess.run(
        [str(BIN / "webhooks-migrate"), "convert", "-", "--from", "export"],
        input=gzip.compress(EXPORT_FILE.read_bytes()),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (event,) = events_of(result.stdout.decode())
    assert event["event_id"] == EXPORT_LINE["jti"]
    assert summary_of(result.stderr.decode()) == (1, 1, 0, {})


def test_python_dash_m_migrate_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "migrate", "convert", str(V2_FILE), "--from", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "'nonsense' is not one of" in result.stderr
    assert "Traceback" not in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "migrate", "convert", str(V2_FILE), "--from", "v2", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0
    assert events_of(ok.stdout)[0]["event_id"] == SEED_V2_ID


# --- the bad-input corpus ----------------------------------------------------------------------


def _rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_the_export_corpus_every_bad_line_rejected_precisely_and_counted(tmp_path: Path) -> None:
    corpus = (FIXTURES / "bad" / "export-corpus.ndjson").read_bytes().split(b"\n")
    ten_mb = b'{"iss": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    path = tmp_path / "export.ndjson"
    path.write_bytes(b"\n".join([*corpus[:-1], ten_mb, corpus[-1]]))  # the cut line stays last
    del ten_mb
    out, rejects_path = tmp_path / "out.ndjson", tmp_path / "rejects.ndjson"
    result = run("convert", path, "--from", "export", "-o", out, "--rejects", rejects_path)
    assert result.exit_code == 1
    assert [e["event_id"] for e in events_of(out.read_text("utf-8"))] == [
        "good-1",
        "good-3",
        "good-10",
    ]
    rejects = _rejects(rejects_path)
    assert [(r["line"], r["pointer"], r["reason"]) for r in rejects] == [
        (2, "", "malformed_json"),
        (4, "/iat", "schema"),
        (5, "/events", "schema"),
        (6, "/events", "multiple_events"),
        (7, "/toe", "schema"),
        (8, "", "encoding"),
        (11, "", "too_large"),
        (12, "", "truncated"),
    ]
    messages = [r["message"] for r in rejects]
    assert "column 29" in messages[0]
    assert messages[1] == "'1568312175' is not of type 'number'"
    assert messages[2] == "required property 'events' is missing"
    assert "entityCreated, entityDeleted" in messages[3]
    assert messages[4] == "'1559372000' is not of type 'number'"
    assert "0xe9" in messages[5]
    assert "1048576-byte limit" in messages[6]
    assert messages[7].startswith("JSON ends early")
    assert len(rejects[6]["raw"]) < 8192  # the 10 MB line is sampled, not copied
    assert summary_of(result.stderr) == (
        11,
        3,
        8,
        {
            "encoding": 1,
            "malformed_json": 1,
            "multiple_events": 1,
            "schema": 3,
            "too_large": 1,
            "truncated": 1,
        },
    )


def test_the_v2_corpus_every_bad_line_rejected_precisely_and_counted(tmp_path: Path) -> None:
    rejects_path = tmp_path / "rejects.ndjson"
    corpus = FIXTURES / "bad" / "v2-corpus.ndjson"
    result = run("convert", corpus, "--from", "v2", "--rejects", rejects_path)
    assert result.exit_code == 1
    assert [e["v2_hash"] for e in events_of(result.stdout)] == ["good-1", "good-3", "a", "good-8"]
    rejects = _rejects(rejects_path)
    assert [(r["line"], r["pointer"], r["reason"]) for r in rejects] == [
        (2, "", "malformed_json"),
        (4, "/1/entity_type", "schema"),
        (5, "/0/datetime", "schema"),
        (6, "/0/datetime", "bad_time"),
        (7, "", "encoding"),
        (9, "", "truncated"),
    ]
    assert json.loads(rejects[1]["raw"]) == dict(NOTIFICATION, hash="b", entity_type=7)
    assert summary_of(result.stderr)[:3] == (10, 4, 6)
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(corpus))]
    assert len(problems) == 6
    assert problems[1] == f"{corpus}:4: /1/entity_type: 7 is not of type 'string' (schema)"


def test_progress_draws_on_a_terminal_at_most_every_fifth_of_a_second() -> None:
    import io
    import time

    from migrate.progress import Progress

    screen = io.StringIO()
    progress = Progress("big.ndjson", enabled=True, total_bytes=200, stream=screen)
    progress.update(1, 10)
    assert screen.getvalue() == ""  # too soon: no redraw for every record
    time.sleep(0.21)
    progress.update(1000, 100)
    progress.update(1001, 101)  # again too soon
    drawn = screen.getvalue()
    assert drawn.count("\r") == 1
    assert "big.ndjson: 1,000 records" in drawn
    assert "50%" in drawn
    progress.close()
    assert screen.getvalue().endswith("\r\x1b[K")  # the line is cleared for the summary
    quiet = io.StringIO()
    silent = Progress("x", enabled=False, stream=quiet)
    time.sleep(0.21)
    silent.update(5, 5)
    silent.close()
    assert quiet.getvalue() == ""


def test_nothing_is_lost_on_the_way_through(tmp_path: Path) -> None:
    big = 123456789012345678901234567890
    deep: Any = "bottom"
    for _ in range(300):  # deeper than orjson writes
        deep = [deep]
    line = dict(EXPORT_LINE, counter=big, nested=deep, text="caf\u00e9 \u2028 \U0001f600")
    path = tmp_path / "export.ndjson"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", "utf-8")
    result = run("convert", path, "--from", "export")
    assert result.exit_code == 0, result.output
    (event,) = events_of(result.stdout)
    assert event["payload"] == line
    assert str(big) in result.stdout  # written as the integer it is, not as a float


@pytest.mark.parametrize("option", ["-o", "--rejects"])
def test_an_output_onto_an_input_file_is_refused_before_reading(
    option: str, tmp_path: Path
) -> None:
    source = tmp_path / "export.ndjson"
    source.write_bytes(EXPORT_FILE.read_bytes())
    before = source.read_bytes()
    # Named another way (a relative path through its directory), it is still the same file.
    alias = tmp_path / "." / "export.ndjson"
    result = run("convert", source, "--from", "export", option, alias)
    assert result.exit_code == 2, result.output
    assert source.read_bytes() == before
    assert "is also an input" in result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.ndjson"]


def test_output_and_rejects_naming_one_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "both.ndjson"
    result = run("convert", EXPORT_FILE, "--from", "export", "-o", out, "--rejects", out)
    assert result.exit_code == 2, result.output
    assert not out.exists()


@pytest.mark.parametrize("option", ["-o", "--rejects"])
def test_an_output_naming_a_directory_fails_before_any_work(option: str, tmp_path: Path) -> None:
    big = tmp_path / "big.ndjson"
    big.write_text(json.dumps(EXPORT_LINE) + "\n", "utf-8")
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = run("convert", big, "--from", "export", option, outdir)
    assert result.exit_code == 2, result.output
    assert "is a directory" in result.stderr
    assert "read 1" not in result.stderr  # no summary: nothing was read
    assert list(outdir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.ndjson", "out"]


@pytest.mark.parametrize("big", [2**70 + 3, -(2**63) - 1])
@pytest.mark.parametrize("kind", ["set", "export", "events"])
def test_big_integers_in_claims_come_out_exact_from_every_input_kind(
    kind: str, big: int, tmp_path: Path
) -> None:
    claims = dict(EXPORT_LINE, jti=f"big-{kind}", counter=big)
    token = compact(HEADER_ALG_KID, claims)
    line = {
        "set": token,
        "export": json.dumps(claims),
        "events": json.dumps(
            {"id": "r1", "state": "success", "attempts": 1, "request": {"payload": token}}
        ),
    }[kind]
    path = tmp_path / "input.txt"
    path.write_text(line + "\n", "utf-8")
    result = run("convert", path, "--from", kind)
    assert result.exit_code == 0, result.output
    (event,) = events_of(result.stdout)
    assert event["payload"]["counter"] == big
    assert str(big) in result.stdout


@pytest.mark.parametrize("spelling", ["add", "Add", "ADD"])
def test_v2_kind_is_case_insensitive(spelling: str) -> None:
    result = run("convert", V2_FILE, "--from", "v2", "--v2-kind", spelling)
    assert result.exit_code == 0, result.output
    assert [e["event_type"] for e in events_of(result.stdout)] == ["entityCreated"]
