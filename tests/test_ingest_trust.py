"""Nothing refused gets into the store by another path (issue 12, part B).

Signatures: a forced re-read never inserts what the ledger's run did not, loading tokens without
a signature check needs an explicit ``--no-verify``, and a later verifying run upgrades events
stored unverified. Real RSA keys are made in the test (``test_verify_support``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    header_for,
    jwks,
    jwks_file,
    keys,
    make_claims,
    sign,
    sign_hmac,
)

from migrate.cli import cli
from migrate.store import make_engine


def stored(url: str) -> list[tuple[str, bool | None]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, signature_verified FROM events")).all()
    engine.dispose()
    return sorted((r[0], None if r[1] is None else bool(r[1])) for r in rows)


def ledger(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT sha256, status, inserted, duplicates, rejected FROM ingest_files")
        ).all()
    engine.dispose()
    return sorted(tuple(r) for r in rows)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    result = CliRunner(env=env).invoke(cli, ["ingest", *args, "--format", "json"])
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, report, result.stderr


def seven_tokens(path: Path, keys: Keys) -> Path:
    """3 good tokens, a bad signature, an unknown kid, an HS256 forgery, a malformed token."""
    good = [sign(keys.trusted[i], make_claims(jti=f"good-{i}")) for i in range(3)]
    signed = sign(keys.trusted[0], make_claims(jti="bad-signature"))
    head, _, signature = signed.rpartition(".")
    bad_signature = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    unknown_kid = sign(keys.foreign, make_claims(jti="unknown-kid"))
    forgery = sign_hmac(
        keys.trusted[0].public_pem(),
        make_claims(jti="hs256-forgery"),
        header_for(keys.trusted[0], alg="HS256"),
    )
    lines = [good[0], bad_signature, good[1], unknown_kid, forgery, good[2], "not.a-token"]
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = [("good-0", True), ("good-1", True), ("good-2", True)]
UNPROVEN = [("hs256-forgery", False), ("unknown-kid", False)]  # refused, not proven forged


def test_a_forced_reread_without_keys_stores_nothing_that_was_refused(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    tokens = seven_tokens(tmp_path / "tokens.txt", keys)
    code, report, _ = run(
        "--from", "set", str(tokens), "--db", sqlite_url, "--jwks", str(jwks_file)
    )
    assert code == 1
    assert (report["read"], report["inserted"], report["rejected"]) == (7, 3, 4)
    assert stored(sqlite_url) == GOOD
    before = ledger(sqlite_url)

    # Without a key source and without --no-verify: a usage error, and nothing changes.
    code, _, stderr = run("--from", "set", str(tokens), "--db", sqlite_url, "--force")
    assert code == 2, stderr
    assert "--no-verify" in stderr
    assert "--jwks" in stderr
    assert stored(sqlite_url) == GOOD

    # Explicitly unverified: the forced re-read still inserts nothing the ledger's run did not.
    code, report, stderr = run(
        "--from", "set", str(tokens), "--db", sqlite_url, "--force", "--no-verify"
    )
    assert code == 1
    assert report["inserted"] == 0
    assert report["read"] == report["inserted"] + report["duplicates"] + report["rejected"]
    assert stored(sqlite_url) == GOOD
    assert ledger(sqlite_url) == before
    for line in (2, 4, 5):  # refused by the ledger's run for their signature
        assert f"{tokens}:{line}:" in stderr


def test_tokens_need_a_key_source_or_an_explicit_no_verify(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(sign(keys.trusted[0], make_claims(jti="one")) + "\n")
    for kind in ("set", "events"):
        code, _, stderr = run("--from", kind, str(tokens), "--db", sqlite_url)
        assert code == 2, stderr
        assert "--no-verify" in stderr
    code, _, stderr = run(
        "--from", "set", str(tokens), "--db", sqlite_url, "--jwks", str(jwks_file), "--no-verify"
    )
    assert code == 2, stderr
    assert "--jwks" in stderr
    assert "--no-verify" in stderr
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # usage errors touch nothing
    # The environment naming the keys is a key source; --no-verify overrides it.
    env = {"WEBHOOKS_MIGRATE_JWKS": str(jwks_file)}
    code, report, _ = run("--from", "set", str(tokens), "--db", sqlite_url, "--dry-run", env=env)
    assert (code, report["signatures_verified"]) == (0, True)
    code, report, _ = run("--from", "set", str(tokens), "--db", sqlite_url, "--no-verify", env=env)
    assert (code, report["signatures_verified"]) == (0, False)
    assert stored(sqlite_url) == [("one", False)]


def test_an_unverified_event_is_upgraded_when_a_later_run_verifies_it(
    tmp_path: Path, keys: Keys, jwks_file: Path, db_url: str
) -> None:
    good = sign(keys.trusted[1], make_claims(jti="later-verified"))
    first = tmp_path / "first.txt"
    first.write_text(good + "\n")
    assert run("--from", "set", str(first), "--db", db_url, "--no-verify")[0] == 0
    assert stored(db_url) == [("later-verified", False)]
    # The same file again, forced, with keys: verified now.
    code, report, _ = run(
        "--from", "set", str(first), "--db", db_url, "--force", "--jwks", str(jwks_file)
    )
    assert (code, report["duplicates"]) == (0, 1)
    assert stored(db_url) == [("later-verified", True)]
    # And from another file holding the same token.
    second = tmp_path / "second.txt"
    second.write_text(good + "\n" + sign(keys.trusted[2], make_claims(jti="other")) + "\n")
    assert run("--from", "set", str(second), "--db", db_url, "--no-verify")[0] == 0
    assert stored(db_url) == [("later-verified", True), ("other", False)]
    third = tmp_path / "third.txt"
    third.write_text("\n" + second.read_text())
    assert run("--from", "set", str(third), "--db", db_url, "--jwks", str(jwks_file))[0] == 0
    assert stored(db_url) == [("later-verified", True), ("other", True)]


def test_the_same_id_with_a_different_payload_is_a_conflict_not_a_duplicate(
    db_url: str, tmp_path: Path
) -> None:
    from strategies import export_claims

    updated = export_claims(1, event_type="entityUpdated")
    deleted = export_claims(1, event_type="entityDeleted")  # the same jti
    same = json.dumps(dict(reversed(list(updated.items()))))  # same content, other key order
    first = tmp_path / "first.ndjson"
    first.write_text(json.dumps(updated) + "\n" + same + "\n" + json.dumps(deleted) + "\n")
    code, report, stderr = run("--from", "export", str(first), "--db", db_url)
    assert code == 1, stderr
    counts = [report[k] for k in ("read", "inserted", "duplicates", "conflicts", "rejected")]
    assert counts == [3, 1, 1, 1, 0]
    assert "conflict" in stderr
    assert f"{first}:3:" in stderr
    # Against the store (another file), too; a forced re-read reports it without storing it.
    second = tmp_path / "second.ndjson"
    second.write_text(json.dumps(deleted) + "\n" + json.dumps(export_claims(2)) + "\n")
    code, report, stderr = run("--from", "export", str(second), "--db", db_url)
    assert code == 1, stderr
    counts = [report[k] for k in ("read", "inserted", "duplicates", "conflicts", "rejected")]
    assert counts == [2, 1, 0, 1, 0]
    code, report, _ = run("--from", "export", str(second), "--db", db_url, "--force")
    assert (code, report["conflicts"], report["inserted"]) == (1, 1, 0)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT path, line, reason, message, raw FROM rejects ORDER BY path, line")
        ).all()
        payload = conn.execute(
            sa.text("SELECT payload FROM events WHERE event_id = :i"), {"i": updated["jti"]}
        ).scalar_one()
    engine.dispose()
    assert [(r.path, r.line, r.reason) for r in rows] == [
        (str(first), 3, "conflict"),
        (str(second), 1, "conflict"),
    ]
    assert all(updated["jti"] in r.message for r in rows)
    # Both payloads are reachable: the stored event's, and the conflicting record's raw.
    stored_payload = payload if isinstance(payload, dict) else json.loads(payload)
    assert "entityUpdated" in stored_payload["events"]
    assert "entityDeleted" in json.loads(rows[1].raw)["events"]


BAD_IDS = {"bad-signature", "unknown-kid", "hs256-forgery"}
FORGED_IDS = {"bad-signature"}  # its signature fails against a known key


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["jwks", "no-keys", "jwks-force", "no-keys-force", "no-verify"]),
            st.sampled_from(["tokens", "conflicting", "tokens-copy"]),
            st.sampled_from([None, '"e1"', '"e2"']),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_interleaved_runs_never_store_a_refused_token(
    keys: Keys, runs: list[tuple[str, str, str | None]]
) -> None:
    """Random interleavings of ingest runs (with and without keys, --no-verify, --force,
    repeated ETags, conflicting ids): every run's summary adds up; a token whose signature
    check fails is stored only unverified (false) by an explicit --no-verify run; one proven
    forged (a signature failing against a known key) is gone once a run with keys has read it
    again (here: a forced re-read of every file at the end); the others stay unverified."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "jwks.json").write_text(json.dumps(jwks(*keys.trusted)))
        tokens = seven_tokens(root / "tokens", keys)
        (root / "tokens-copy").write_text("\n" + tokens.read_text())
        claims = make_claims(jti="good-0", txn="11111111-1111-1111-1111-111111111111")
        (root / "conflicting").write_text(sign(keys.trusted[0], claims) + "\n")
        url = f"sqlite:///{root / 'store.db'}"
        for mode, name, etag in runs:
            args = ["--from", "set", str(root / name), "--db", url]
            if mode.startswith("jwks"):
                args += ["--jwks", str(root / "jwks.json")]
            if mode.endswith("force"):
                args.append("--force")
            if mode == "no-verify":
                args.append("--no-verify")
            if etag:
                args += ["--etag", etag]
            code, report, stderr = run(*args, env={"WEBHOOKS_MIGRATE_JWKS": ""})
            if mode.startswith("no-keys"):
                assert code == 2, stderr
                continue
            assert code in (0, 1), stderr
            if report:
                parts = ("inserted", "duplicates", "conflicts", "rejected")
                assert report["read"] == sum(report[k] for k in parts), report
                for f in report["files"]:
                    assert f["read"] == sum(f[k] for k in parts), f
            if Path(url.removeprefix("sqlite:///")).exists():
                assert all(flag is False for key, flag in stored(url) if key in BAD_IDS)
        if Path(url.removeprefix("sqlite:///")).exists():
            for name in ("tokens", "conflicting", "tokens-copy"):
                keyed = ["--jwks", str(root / "jwks.json"), "--force"]
                run("--from", "set", str(root / name), "--db", url, *keyed)
            assert not {key for key, _ in stored(url)} & FORGED_IDS
            assert all(flag is False for key, flag in stored(url) if key in BAD_IDS)


def test_one_interleaving_on_every_backend(
    db_url: str, tmp_path: Path, keys: Keys, jwks_file: Path
) -> None:
    tokens = seven_tokens(tmp_path / "tokens", keys)
    claims = make_claims(jti="good-0", txn="11111111-1111-1111-1111-111111111111")
    conflicting = tmp_path / "conflicting"
    conflicting.write_text(sign(keys.trusted[0], claims) + "\n")
    keyed = ["--jwks", str(jwks_file)]
    steps: list[tuple[list[str], int]] = [
        ([str(tokens), *keyed, "--etag", '"e1"'], 1),
        ([str(tokens), "--force"], 2),
        ([str(tokens), *keyed, "--force", "--etag", '"e1"'], 1),
        ([str(conflicting), *keyed, "--etag", '"e1"'], 1),  # the ETag names other content
        ([str(conflicting), *keyed], 1),  # a conflict
    ]
    for args, expected in steps:
        code, report, stderr = run("--from", "set", *args, "--db", db_url)
        assert code == expected, (args, stderr)
        if report:
            parts = ("inserted", "duplicates", "conflicts", "rejected")
            assert report["read"] == sum(report[k] for k in parts), report
        assert not {key for key, _ in stored(db_url)} & BAD_IDS
    assert stored(db_url) == GOOD


def test_v2_ids_come_from_content_so_v2_never_conflicts(db_url: str, tmp_path: Path) -> None:
    seed = json.loads((Path(__file__).parent / "fixtures" / "seed-v2-payload.json").read_text())[0]
    other_spelling = {**seed, "datetime": seed["datetime"].replace("Z", "+00:00")}
    first = tmp_path / "a.ndjson"
    first.write_text(json.dumps([seed]) + "\n" + json.dumps([other_spelling]) + "\n")
    second = tmp_path / "b.ndjson"
    second.write_text(json.dumps([other_spelling]) + "\n")
    for path, expected in ((first, [2, 1, 1, 0, 0]), (second, [1, 0, 1, 0, 0])):
        code, report, stderr = run("--from", "v2", str(path), "--db", db_url, "--v2-kind", "ADD")
        assert code == 0, stderr
        counts = [report[k] for k in ("read", "inserted", "duplicates", "conflicts", "rejected")]
        assert counts == expected


def test_a_token_stored_unverified_is_removed_when_a_later_run_refuses_its_signature(
    db_url: str, tmp_path: Path, keys: Keys, jwks_file: Path
) -> None:
    tokens = seven_tokens(tmp_path / "tokens.txt", keys)
    code, report, _ = run("--from", "set", str(tokens), "--db", db_url, "--no-verify")
    assert (code, report["inserted"]) == (1, 6)  # only the malformed one is refused
    # The same tokens in another file, verified: the bad signature goes (it fails against a
    # known key), the good ones are upgraded; an unknown kid or a refused alg proves no forgery
    # (a rotation may have retired the key), so those stay, unverified.
    again = tmp_path / "again.txt"
    again.write_text("\n" + tokens.read_text())
    code, report, _ = run("--from", "set", str(again), "--db", db_url, "--jwks", str(jwks_file))
    assert code == 1
    assert report["unverified_removed"] == 1
    assert stored(db_url) == sorted([*GOOD, *UNPROVEN])
    # Also by a forced re-read (with keys) of a file loaded with --no-verify.
    forged = tmp_path / "forged.txt"
    forged.write_text("\n".join(tokens.read_text().splitlines()[1:5]) + "\n")
    assert run("--from", "set", str(forged), "--db", db_url, "--no-verify")[0] == 0
    assert len(stored(db_url)) == 6
    keyed = ["--jwks", str(jwks_file)]
    code, report, _ = run("--from", "set", str(forged), "--db", db_url, "--force", *keyed)
    assert (code, report["unverified_removed"], report["inserted"]) == (1, 1, 0)
    assert stored(db_url) == sorted([*GOOD, *UNPROVEN])
