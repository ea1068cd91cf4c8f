"""``ingest --from set/events`` verifies signatures by default when a key source is configured."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    jwks_file,
    keys,
    make_claims,
    sign,
)

from migrate.cli import cli
from migrate.store import make_engine


def _stored(url: str) -> list[tuple[str, bool | None]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, signature_verified FROM events")).all()
    engine.dispose()
    return sorted((r[0], None if r[1] is None else bool(r[1])) for r in rows)


def _ingest(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    result = CliRunner(env=env).invoke(cli, ["ingest", *args, "--format", "json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_set_tokens_are_verified_and_forgeries_rejected(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    good = sign(keys.trusted[1], make_claims(jti="good"))
    foreign = sign(keys.foreign, make_claims(jti="forged"))
    head, _, sig = good.rpartition(".")
    altered_claims = sign(keys.trusted[1], make_claims(jti="altered")).split(".")[1]
    altered = f"{head.split('.')[0]}.{altered_claims}.{sig}"  # good signature, other payload
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join([good, foreign, altered]) + "\n")

    code, report, stderr = _ingest(
        "--from", "set", str(tokens), "--db", sqlite_url, "--jwks", str(jwks_file)
    )
    assert code == 1
    assert (report["inserted"], report["rejected"]) == (1, 2)
    assert report["signatures_verified"] is True
    assert _stored(sqlite_url) == [("good", True)]
    assert f"{tokens}:2:" in stderr
    assert f"{tokens}:3:" in stderr
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        reasons = conn.execute(sa.text("SELECT line, reason FROM rejects ORDER BY line")).all()
    engine.dispose()
    assert [line for line, _ in reasons] == [2, 3]
    assert all(reason not in ("schema", "bad_token") for _, reason in reasons)


def test_key_source_from_the_environment(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(sign(keys.trusted[0], make_claims(jti="env")) + "\n")
    env = {"WEBHOOKS_MIGRATE_JWKS": str(jwks_file)}
    code, report, _ = _ingest("--from", "set", str(tokens), "--db", sqlite_url, env=env)
    assert code == 0
    assert report["signatures_verified"] is True
    assert _stored(sqlite_url) == [("env", True)]


def test_no_verify_is_explicit_and_recorded(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(sign(keys.foreign, make_claims(jti="unchecked")) + "\n")
    # --no-verify is explicit; it overrides the environment's key source, not a --jwks option.
    code, report, _ = _ingest(
        "--from",
        "set",
        str(tokens),
        "--db",
        sqlite_url,
        "--no-verify",
        env={"WEBHOOKS_MIGRATE_JWKS": str(jwks_file)},
    )
    assert code == 0
    assert report["signatures_verified"] is False
    assert report["signatures"] == "NOT verified: --no-verify"
    assert _stored(sqlite_url) == [("unchecked", False)]


def test_without_a_key_source_tokens_need_an_explicit_no_verify(
    tmp_path: Path, keys: Keys, sqlite_url: str
) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(sign(keys.trusted[0], make_claims(jti="nokeys")) + "\n")
    result = CliRunner(env={"WEBHOOKS_MIGRATE_JWKS": ""}).invoke(
        cli, ["ingest", "--from", "set", str(tokens), "--db", sqlite_url]
    )
    assert result.exit_code == 2
    assert "--no-verify" in result.stderr
    result = CliRunner(env={"WEBHOOKS_MIGRATE_JWKS": ""}).invoke(
        cli, ["ingest", "--from", "set", str(tokens), "--db", sqlite_url, "--no-verify"]
    )
    assert result.exit_code == 0
    assert "signatures: NOT verified: --no-verify" in result.stdout
    assert _stored(sqlite_url) == [("nokeys", False)]


def test_events_store_records_are_verified_too(
    tmp_path: Path, keys: Keys, jwks_file: Path, sqlite_url: str
) -> None:
    record = json.loads(
        (Path(__file__).parent / "fixtures" / "seed-events-record-wrapped-token.json").read_text()
    )
    record["request"]["payload"] = sign(keys.trusted[2], make_claims(jti="rec"))
    seed = dict(record, id="seed")  # the seed's own token: Identity Cloud's key, not ours
    seed["request"] = dict(
        record["request"],
        payload=json.loads(
            (
                Path(__file__).parent / "fixtures" / "seed-events-record-wrapped-token.json"
            ).read_text()
        )["request"]["payload"],
    )
    path = tmp_path / "records.ndjson"
    path.write_text(json.dumps(record) + "\n" + json.dumps(seed) + "\n")
    code, report, stderr = _ingest(
        "--from", "events", str(path), "--db", sqlite_url, "--jwks", str(jwks_file)
    )
    assert code == 1
    assert (report["inserted"], report["rejected"]) == (1, 1)
    assert _stored(sqlite_url) == [("rec", True)]
    assert f"{path}:2: /request/payload" in stderr


def test_a_jwks_url_that_cannot_be_fetched_is_operational(tmp_path: Path, sqlite_url: str) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("x.y.z\n")
    result = CliRunner().invoke(
        cli,
        [
            "ingest",
            "--from",
            "set",
            str(tokens),
            "--db",
            sqlite_url,
            "--jwks",
            "http://127.0.0.1:9/jwks",
        ],
    )
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
