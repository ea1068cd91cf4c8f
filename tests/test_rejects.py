"""``rejects list|show|retry|resolve``: what was refused can be looked at, re-run and settled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    jwks,
    jwks_file,
    keys,
    make_claims,
    sign,
)

from migrate.cli import cli
from migrate.store import make_engine

FIXTURES = Path(__file__).parent / "fixtures"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    result = CliRunner(env=env).invoke(cli, list(args))
    try:
        data = json.loads(result.stdout)
    except ValueError:
        data = result.stdout
    return result.exit_code, data, result.stderr


def events_in(url: str) -> list[tuple[str, bool | None]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, signature_verified FROM events")).all()
    finally:
        engine.dispose()
    return sorted((r[0], None if r[1] is None else bool(r[1])) for r in rows)


def test_retry_after_a_jwks_fix_stores_the_event_once(
    tmp_path: Path, keys: Keys, jwks_file: Path, db_url: str
) -> None:
    good = sign(keys.trusted[0], make_claims(jti="good"))
    rotated = sign(keys.rotated_in, make_claims(jti="rotated"))  # its key was not published yet
    forged = sign(keys.foreign, make_claims(jti="forged"))
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join([good, rotated, forged]) + "\n")
    code, _, _ = invoke(
        "ingest", "--from", "set", str(tokens), "--db", db_url, "--jwks", str(jwks_file)
    )
    assert code == 1
    assert events_in(db_url) == [("good", True)]

    code, listed, _ = invoke("rejects", "list", "--db", db_url, "--format", "json")
    assert code == 0
    assert listed["unresolved"] == 2
    by_line = {r["line"]: r for r in listed["rejects"]}
    assert set(by_line) == {2, 3}
    assert by_line[2]["kind"] == "set"
    rotated_id, forged_id = by_line[2]["id"], by_line[3]["id"]

    code, shown, _ = invoke("rejects", "show", str(rotated_id), "--db", db_url, "--format", "json")
    assert code == 0
    assert shown["raw"] == rotated
    assert shown["status"] == "unresolved"

    # Without keys a token is not retried blindly.
    code, result, _ = invoke("rejects", "retry", "--db", db_url, "--format", "json")
    assert code == 1
    assert {o["reason"] for o in result["retried"]} == {"no_keys"}
    assert events_in(db_url) == [("good", True)]

    fixed = tmp_path / "jwks-fixed.json"
    fixed.write_text(json.dumps(jwks(*keys.trusted, keys.rotated_in)))
    code, result, err = invoke(
        "rejects", "retry", "--db", db_url, "--jwks", str(fixed), "--format", "json"
    )
    assert code == 1, err  # the forgery still fails
    outcomes = {o["id"]: o for o in result["retried"]}
    assert outcomes[rotated_id]["status"] == "stored"
    assert outcomes[rotated_id]["event_ids"] == ["rotated"]
    assert outcomes[forged_id]["status"] == "rejected"
    assert outcomes[forged_id]["reason"] == "unknown_kid"
    assert events_in(db_url) == [("good", True), ("rotated", True)]

    # Again: nothing is stored twice; the settled reject is skipped when named.
    code, result, _ = invoke(
        "rejects",
        "retry",
        str(rotated_id),
        "--db",
        db_url,
        "--jwks",
        str(fixed),
        "--format",
        "json",
    )
    assert code == 0
    assert [o["status"] for o in result["retried"]] == ["skipped"]
    assert events_in(db_url) == [("good", True), ("rotated", True)]
    code, shown, _ = invoke("rejects", "show", str(rotated_id), "--db", db_url, "--format", "json")
    assert (shown["status"], shown["event_id"]) == ("retried", "rotated")
    code, listed, _ = invoke("rejects", "list", "--db", db_url, "--format", "json")
    assert [r["id"] for r in listed["rejects"]] == [forged_id]


def test_a_reject_whose_event_came_in_another_way_is_settled_not_stored_again(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    token = sign(keys.rotated_in, make_claims(jti="late-key"))
    first = tmp_path / "first.txt"
    first.write_text(token + "\n")
    invoke("ingest", "--from", "set", str(first), "--db", sqlite_url, "--jwks", str(jwks_file))
    fixed = tmp_path / "jwks-fixed.json"
    fixed.write_text(json.dumps(jwks(*keys.trusted, keys.rotated_in)))
    again = tmp_path / "again.txt"
    again.write_text("\n" + token + "\n")  # another file, so it is not skipped as ingested
    code, _, _ = invoke(
        "ingest", "--from", "set", str(again), "--db", sqlite_url, "--jwks", str(fixed)
    )
    assert code == 0
    code, result, _ = invoke(
        "rejects", "retry", "--db", sqlite_url, "--jwks", str(fixed), "--format", "json"
    )
    assert code == 0
    assert [o["status"] for o in result["retried"]] == ["duplicate"]
    assert events_in(sqlite_url) == [("late-key", True)]


def test_v2_rejects_retry_with_the_right_hash_and_resolve_records_who_and_why(
    tmp_path: Path, db_url: str
) -> None:
    good = json.loads((FIXTURES / "seed-v2-payload.json").read_text())[0]
    other = {**good, "uuid": "00000000-0000-0000-0000-000000000007"}
    bad_time = {**good, "uuid": "00000000-0000-0000-0000-000000000008", "datetime": "yesterday"}
    path = tmp_path / "v2.ndjson"
    path.write_text(json.dumps([other, bad_time]) + "\n")
    code, _, _ = invoke("ingest", "--from", "v2", str(path), "--db", db_url, "--v2-hash", "0" * 40)
    assert code == 1
    code, listed, _ = invoke(
        "rejects", "list", "--db", db_url, "--reason", "hash_mismatch", "--format", "json"
    )
    assert [r["pointer"] for r in listed["rejects"]] == ["/0/hash"]
    code, listed, _ = invoke("rejects", "list", "--db", db_url, "--format", "json")
    assert listed["total"] == 2
    still = next(r["id"] for r in listed["rejects"] if r["reason"] != "hash_mismatch")

    code, result, _ = invoke(
        "rejects",
        "retry",
        "--reason",
        "hash_mismatch",
        "--db",
        db_url,
        "--v2-hash",
        good["hash"],
        "--v2-kind",
        "UPDATE",
        "--format",
        "json",
    )
    assert code == 0
    assert [o["status"] for o in result["retried"]] == ["stored"]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT source, event_type, entity_id FROM events")).all()
    engine.dispose()
    assert [tuple(k) for k in kinds] == [("v2", "entityUpdated", other["uuid"])]

    code, result, _ = invoke("rejects", "retry", str(still), "--db", db_url, "--format", "json")
    assert code == 1
    assert [o["status"] for o in result["retried"]] == ["rejected"]
    code, _, err = invoke("rejects", "resolve", str(still), "--db", db_url)
    assert code == 2
    assert "--note" in err
    code, _, err = invoke("rejects", "resolve", "999", "--note", "x", "--db", db_url)
    assert code == 2
    assert "no reject 999" in err
    code, done, _ = invoke(
        "rejects",
        "resolve",
        str(still),
        "--note",
        "test data, never real",
        "--db",
        db_url,
        "--format",
        "json",
        env={"USER": "ana"},
    )
    assert code == 0, err
    assert done == {"resolved": [still], "already_settled": []}
    code, shown, _ = invoke("rejects", "show", str(still), "--db", db_url, "--format", "json")
    assert (shown["status"], shown["resolved_by"], shown["note"]) == (
        "accepted",
        "ana",
        "test data, never real",
    )
    code, listed, _ = invoke("rejects", "list", "--db", db_url, "--format", "json")
    assert listed["rejects"] == []
    code, listed, _ = invoke("rejects", "list", "--all", "--db", db_url, "--format", "json")
    assert sorted(r["status"] for r in listed["rejects"]) == ["accepted", "retried"]
    code, text, _ = invoke("rejects", "show", str(still), "--db", db_url)
    assert "raw:" in text
    assert invoke("rejects", "show", "12345", "--db", db_url)[0] == 2
