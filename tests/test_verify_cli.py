"""``verify FILE``: output, exit codes, and ``--jobs`` agreeing with one process."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    AUDIENCE,
    ISSUER,
    NOW,
    JwksServer,
    Keys,
    header_for,
    jwks_file,
    jwks_server,
    keys,
    make_claims,
    sign,
)

from migrate.cli import cli
from migrate.readers import read_tokens
from migrate.verify import PinnedJwksUrl, StaticKeys, Verifier, load_key_source, parse_jwks
from migrate.verify.parallel import verify_in_processes
from migrate.verify.run import verify_file

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["verify", *args], input=input)


@pytest.fixture
def mixed_file(tmp_path: Path, keys: Keys) -> Path:
    """Three good tokens (one wrapped over lines, as documentation shows them) and two bad."""
    good = [sign(k, make_claims(jti=f"good-{i}")) for i, k in enumerate(keys.trusted)]
    wrapped = "\n".join(good[1][i : i + 80] for i in range(0, len(good[1]), 80))
    forged = sign(keys.foreign.relabeled(keys.trusted[0].kid), make_claims(jti="forged"))
    none_alg = sign(keys.trusted[0], header=header_for(keys.trusted[0], alg="none"))
    path = tmp_path / "tokens.txt"
    path.write_text("\n".join([good[0], wrapped, forged, "", none_alg, good[2]]) + "\n")
    return path


def test_one_result_line_per_token_and_exit_1_when_any_fails(
    mixed_file: Path, jwks_file: Path
) -> None:
    result = run(str(mixed_file), "--jwks", str(jwks_file))

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "ok good-0 (line 1)"
    assert lines[1] == "ok good-1 (line 2)"
    assert lines[2].startswith(f"fail line {2 + _lines_of(mixed_file, 1)}: bad_signature: ")
    assert lines[3].startswith("fail line ")
    assert ": alg_not_allowed: alg 'none'" in lines[3]
    assert lines[4].startswith("ok good-2 (line ")
    assert len(lines) == 5
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: 5 tokens: 3 verified, 2 failed (alg_not_allowed: 1, bad_signature: 1)"
    )


def _lines_of(path: Path, record_index: int) -> int:
    """How many lines the ``record_index``-th token of ``path`` spans."""
    with path.open("rb") as stream:
        records = list(read_tokens(str(path), stream))
    return len(records[record_index].raw.splitlines())


def test_all_verified_exits_0_with_a_summary(tmp_path: Path, keys: Keys, jwks_file: Path) -> None:
    path = tmp_path / "good.txt"
    path.write_text("\n".join(sign(k) for k in keys.trusted) + "\n")
    result = run(str(path), "--jwks", str(jwks_file), "--issuer", ISSUER, "--audience", AUDIENCE)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ok", "ok", "ok"]
    assert result.stderr.strip() == "3 tokens: 3 verified, 0 failed"


def test_json_report(mixed_file: Path, jwks_file: Path) -> None:
    result = run(str(mixed_file), "--jwks", str(jwks_file), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["failed"]) == (3, 2)
    first, _, forged, none_alg, _ = report["results"]
    assert first == {
        "line": 1,
        "jti": "good-0",
        "ok": True,
        "reason": None,
        "pointer": "",
        "message": "",
    }
    assert (forged["ok"], forged["reason"], forged["pointer"]) == (
        False,
        "bad_signature",
        "/signature",
    )
    assert forged["jti"] == "forged"  # decoded, unverified: it still finds the event
    assert none_alg["reason"] == "alg_not_allowed"


def test_keys_from_a_url_and_stdin(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.publish(*keys.trusted)
    result = run("-", "--jwks", jwks_server.url(), input=sign(keys.trusted[1]) + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok ")


def test_keys_from_the_environment(keys: Keys, jwks_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(sign(keys.trusted[0], make_claims(iss="Akamai Identity Cloud")) + "\n")
    result = CliRunner().invoke(
        cli,
        ["verify", str(path)],
        env={"WEBHOOKS_MIGRATE_JWKS": str(jwks_file), "WEBHOOKS_MIGRATE_ISSUER": ISSUER},
    )
    assert result.exit_code == 1
    assert ": iss_mismatch: " in result.stdout


def test_unreachable_jwks_url_exits_3_with_one_line(
    mixed_file: Path, jwks_server: JwksServer
) -> None:
    url = jwks_server.url()
    jwks_server.stop()
    result = run(str(mixed_file), "--jwks", url)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: cannot fetch the JWKS from http://127.0.0.1:")


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ("missing.json", "cannot read JWKS file"),
        ("http://keys.example.com/jwk", "refusing plain http"),
    ],
)
def test_bad_key_source_is_a_usage_error(mixed_file: Path, jwks: str, message: str) -> None:
    result = run(str(mixed_file), "--jwks", jwks)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_seed_token_fails_cleanly(jwks_file: Path) -> None:
    result = run(str(FIXTURES / "seed-set-wrapped-token.txt"), "--jwks", str(jwks_file))
    assert result.exit_code == 1
    assert result.stdout.startswith("fail line 1: unknown_kid: kid '1dc12073699c68c1")
    assert "Traceback" not in result.output


def test_live_mode_from_the_command_line(tmp_path: Path, keys: Keys, jwks_file: Path) -> None:
    path = tmp_path / "future.txt"
    path.write_text(sign(keys.trusted[0], make_claims(iat=4_000_000_000)) + "\n")
    assert run(str(path), "--jwks", str(jwks_file)).exit_code == 0
    live = run(str(path), "--jwks", str(jwks_file), "--mode", "live", "--skew", "60")
    assert live.exit_code == 1
    assert ": iat_in_future: " in live.stdout


def test_debug_names_the_configuration_and_skipped_keys(
    tmp_path: Path, keys: Keys, mixed_file: Path
) -> None:
    path = tmp_path / "jwks.json"
    entries = [k.jwk() for k in keys.trusted] + [{"kty": "EC", "kid": "ec-1"}]
    path.write_text(json.dumps({"keys": entries}))
    result = CliRunner().invoke(cli, ["--debug", "verify", str(mixed_file), "--jwks", str(path)])
    assert f"verifying: bulk mode, keys from JWKS file {path}" in result.stderr
    assert "ignored JWKS entry: key 3 (kid 'ec-1'): kty 'EC' is not RSA" in result.stderr


def test_gzip_input(tmp_path: Path, keys: Keys, jwks_file: Path) -> None:
    path = tmp_path / "tokens.txt.gz"
    path.write_bytes(gzip.compress((sign(keys.trusted[2]) + "\n").encode()))
    assert run(str(path), "--jwks", str(jwks_file)).exit_code == 0


# --- --jobs -------------------------------------------------------------------------------


@pytest.fixture
def big_file(tmp_path: Path, keys: Keys, mixed_file: Path) -> Path:
    """A few hundred tokens, failures sprinkled through them, and an unreadable record."""
    good = [sign(keys.trusted[i % 3], make_claims(jti=f"t{i}")) for i in range(60)]
    path = tmp_path / "big.txt"
    with path.open("wb") as out:
        for _ in range(5):
            out.write("\n".join(good).encode() + b"\n\n")
            out.write(mixed_file.read_bytes() + b"\n")
            out.write(b"eyJ\xff\xfe not UTF-8\n\n")
    return path


def test_jobs_give_the_same_results_in_the_same_order(big_file: Path, jwks_file: Path) -> None:
    verifier = Verifier(load_key_source(str(jwks_file)))
    serial = list(verify_file(str(big_file), verifier))
    parallel = list(verify_file(str(big_file), verifier, jobs=2))
    assert parallel == serial
    assert len(serial) == 5 * (60 + 5 + 1)
    assert {r.reason for r in serial} == {None, "bad_signature", "alg_not_allowed", "encoding"}


def test_small_batches_keep_order(big_file: Path, jwks_file: Path) -> None:
    verifier = Verifier(load_key_source(str(jwks_file)))
    with big_file.open("rb") as stream:
        records = list(read_tokens(str(big_file), stream))
    results = list(verify_in_processes(records, verifier, jobs=3, batch_size=7))
    assert [r.line for r in results] == [r.line for r in records]


def test_jobs_on_the_command_line_match_one_process(big_file: Path, jwks_file: Path) -> None:
    one = run(str(big_file), "--jwks", str(jwks_file))
    two = run(str(big_file), "--jwks", str(jwks_file), "--jobs", "2")
    assert (one.exit_code, two.exit_code) == (1, 1)
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr


def test_workers_verify_with_keys_from_a_pinned_url(
    big_file: Path, keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.publish(*keys.trusted)
    verifier = Verifier(load_key_source(jwks_server.url()))
    assert isinstance(verifier.keys, PinnedJwksUrl)
    results = list(verify_file(str(big_file), verifier, jobs=2))
    assert sum(r.ok for r in results) == 5 * (60 + 3)
    assert jwks_server.paths() == ["/jwks"]  # workers inherit the keys and the cooldown


def test_live_mode_now_reaches_the_workers(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "t.txt"
    path.write_text(sign(keys.trusted[0], make_claims(iat=int(NOW))) + "\n")
    keyset = parse_jwks(json.dumps({"keys": [keys.trusted[0].jwk()]}), "test")
    verifier = Verifier(StaticKeys(keyset, "test"), mode="live")
    assert [r.reason for r in verify_file(str(path), verifier, jobs=2, now=NOW)] == [None]
    late = list(verify_file(str(path), verifier, jobs=2, now=NOW + 30 * 86400))
    assert [r.reason for r in late] == ["iat_too_old"]
