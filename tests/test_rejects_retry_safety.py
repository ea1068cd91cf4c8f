"""``rejects retry`` refuses what ingest refuses: signature-refused tokens, conflicts, U+0000,
and keeps a listener v2 reject's kind (the route it came in on)."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from test_rejects import FIXTURES, events_in, invoke
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    jwks,
    jwks_file,
    keys,
    make_claims,
    sign,
)

from migrate.store import make_engine
from migrate.store.models import Base
from migrate.store.rows import now_text, reject_row


def reject_ids(url: str, reason: str) -> list[int]:
    code, listed, _ = invoke("rejects", "list", "--db", url, "--reason", reason, "--format", "json")
    assert code == 0
    return [r["id"] for r in listed["rejects"]]


def test_a_token_refused_for_its_signature_is_never_stored_by_retrying_its_claims(
    tmp_path: Path, keys: Keys, jwks_file: Path, db_url: str
) -> None:
    genuine = sign(keys.trusted[0], make_claims(jti="x"))
    forged = sign(keys.foreign, make_claims(jti="x", txn="33333333-3333-3333-3333-333333333333"))
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(genuine + "\n")
    second.write_text(forged + "\n")
    code, _, _ = invoke(
        "ingest", "--from", "set", str(first), "--db", db_url, "--jwks", str(jwks_file)
    )
    assert code == 0
    code, _, _ = invoke(
        "ingest", "--from", "set", str(second), "--db", db_url, "--jwks", str(jwks_file)
    )
    assert code == 1  # refused for its signature: raw is the token
    [signature] = reject_ids(db_url, "unknown_kid")
    # Unverified, the forgery is a conflict: its raw is the token's decoded claims.
    third = tmp_path / "third.txt"
    third.write_text("\n" + forged + "\n")
    invoke("ingest", "--from", "set", str(third), "--db", db_url, "--no-verify")
    [conflict] = reject_ids(db_url, "conflict")
    for reject, kind in ((conflict, "export"), (signature, "export"), (conflict, "set")):
        code, result, _ = invoke(
            "rejects", "retry", str(reject), "--from", kind, "--db", db_url,
            "--no-verify", "--format", "json",
        )  # fmt: skip
        assert code == 1, (reject, kind, result)
        [outcome] = result["retried"]
        assert outcome["status"] == "rejected", (reject, kind, outcome)
        assert outcome["reason"] == "not_retryable", (reject, kind, outcome)
    assert events_in(db_url) == [("x", True)]
    code, listed, _ = invoke("rejects", "list", "--db", db_url, "--format", "json")
    assert sorted(r["id"] for r in listed["rejects"]) == sorted([signature, conflict])


def test_a_conflict_reject_is_not_retried_as_a_record(tmp_path: Path, sqlite_url: str) -> None:
    claims = make_claims(jti="same")
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    first.write_text(json.dumps(claims) + "\n")
    second.write_text(json.dumps({**claims, "txn": "11111111-1111-1111-1111-111111111111"}) + "\n")
    invoke("ingest", "--from", "export", str(first), "--db", sqlite_url)
    assert invoke("ingest", "--from", "export", str(second), "--db", sqlite_url)[0] == 1
    [conflict] = reject_ids(sqlite_url, "conflict")
    code, result, _ = invoke(
        "rejects", "retry", str(conflict), "--db", sqlite_url, "--format", "json"
    )
    assert code == 1
    [outcome] = result["retried"]
    assert outcome["status"] == "rejected"
    assert "resolve" in outcome["message"]
    assert reject_ids(sqlite_url, "conflict") == [conflict]  # still unresolved


def test_a_retried_record_whose_event_id_is_stored_with_another_payload_is_a_conflict(
    tmp_path: Path, keys: Keys, jwks_file: Path, db_url: str
) -> None:
    late = sign(keys.rotated_in, make_claims(jti="shared"))  # its key is not published yet
    other = sign(
        keys.trusted[0], make_claims(jti="shared", txn="22222222-2222-2222-2222-222222222222")
    )
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(late + "\n")
    second.write_text(other + "\n")
    assert (
        invoke("ingest", "--from", "set", str(first), "--db", db_url, "--jwks", str(jwks_file))[0]
        == 1
    )
    assert (
        invoke("ingest", "--from", "set", str(second), "--db", db_url, "--jwks", str(jwks_file))[0]
        == 0
    )
    fixed = tmp_path / "jwks-fixed.json"
    fixed.write_text(json.dumps(jwks(*keys.trusted, keys.rotated_in)))
    code, result, _ = invoke(
        "rejects", "retry", "--db", db_url, "--jwks", str(fixed), "--format", "json"
    )
    assert code == 1
    [outcome] = result["retried"]
    assert (outcome["status"], outcome["reason"]) == ("rejected", "conflict")
    code, listed, _ = invoke("rejects", "list", "--db", db_url, "--format", "json")
    assert [r["id"] for r in listed["rejects"]] == [outcome["id"]]  # not settled


def test_a_retried_record_holding_u0000_is_refused_on_every_backend(
    tmp_path: Path, db_url: str
) -> None:
    claims = make_claims(jti="nul", txn="bad\u0000txn")
    path = tmp_path / "export.ndjson"
    path.write_text(json.dumps(claims) + "\n")
    assert invoke("ingest", "--from", "export", str(path), "--db", db_url)[0] == 1
    code, result, err = invoke("rejects", "retry", "--db", db_url, "--format", "json")
    assert code == 1, err
    [outcome] = result["retried"]
    assert outcome["status"] == "rejected"
    assert "U+0000" in outcome["message"]
    assert events_in(db_url) == []


def test_a_listener_v2_reject_is_retried_as_the_kind_of_its_route(
    tmp_path: Path, sqlite_url: str
) -> None:
    good = json.loads((FIXTURES / "seed-v2-payload.json").read_text())[0]
    invoke("db", "upgrade", "--db", sqlite_url)
    engine = make_engine(sqlite_url)
    row = reject_row(
        path="/v2/delete", pointer="/0/hash", reason="hash_mismatch", message="wrong hash",
        raw=json.dumps([good]), now=now_text(),
    )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Base.metadata.tables["rejects"]), [row])
    code, _, err = invoke(
        "rejects", "retry", "--db", sqlite_url, "--v2-hash", good["hash"], "--format", "json"
    )
    assert code == 0, err
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT event_type FROM events")).scalars().all()
    engine.dispose()
    assert kinds == ["entityDeleted"]
