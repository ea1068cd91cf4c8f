"""Key sources: JWK set parsing, the pinned URL served by a real HTTP server, rotation, cooldown."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    JwksServer,
    Keys,
    ManualClock,
    SigningKey,
    jwks,
    jwks_file,
    jwks_server,
    keys,
    sign,
)

from adapters.errors import Rejection
from migrate.verify import (
    JwksError,
    KeyFetchError,
    KeySourceError,
    PinnedJwksUrl,
    Verifier,
    VerifyReason,
    build_verifier,
    load_key_source,
    parse_jwks,
    verifier_from_env,
)
from migrate.verify.keys import check_jwks_url

# --- JWK sets -----------------------------------------------------------------------------


def test_three_published_keys_load_by_kid(keys: Keys) -> None:
    keyset = parse_jwks(json.dumps(jwks(*keys.trusted)), "test")
    assert set(keyset.keys) == {k.kid for k in keys.trusted}
    assert all(len(kid) == 40 for kid in keyset.keys)
    assert keyset.skipped == ()
    assert {k.signature_bytes for k in keyset.keys.values()} == {256}


def test_entries_that_cannot_verify_rs256_are_skipped_with_their_reason(keys: Keys) -> None:
    good = keys.trusted[0]
    small = SigningKey.generate(bits=1024)
    entries: list[Any] = [
        good.jwk(),
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        keys.trusted[1].jwk(use="enc"),
        keys.trusted[1].jwk(alg="RS512"),
        keys.trusted[1].jwk(key_ops=["encrypt"]),
        keys.trusted[2].jwk(kid=None),
        small.jwk(),
        keys.trusted[2].jwk(n="not base64url!"),
        keys.trusted[2].jwk(kid=good.kid),
        "not an object",
    ]
    entries[5].pop("kid")
    keyset = parse_jwks(json.dumps({"keys": entries}), "test")
    assert list(keyset.keys) == [good.kid]
    reasons = "\n".join(keyset.skipped)
    for expected in [
        "key 1 (kid 'ec'): kty 'EC' is not RSA",
        "use 'enc' is not sig",
        "alg 'RS512' is not RS256",
        "does not allow verify",
        "key 5: no kid",
        "modulus is 1024 bits",
        "n is not a base64url string",
        "duplicate kid",
        "key 9: not a JSON object",
    ]:
        assert expected in reasons
    assert len(keyset.skipped) == len(entries) - 1


def test_use_and_alg_may_be_absent(keys: Keys) -> None:
    jwk = keys.trusted[0].jwk()
    del jwk["use"], jwk["alg"]
    assert list(parse_jwks(json.dumps({"keys": [jwk]}), "test").keys) == [keys.trusted[0].kid]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<html>", "is not JSON"),
        (b'{"kty": "RSA"}', 'no "keys" array'),
        (b'{"keys": []}', "the set is empty"),
        (b'{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}', "kty 'oct' is not RSA"),
    ],
)
def test_a_document_without_a_usable_key_is_an_error(document: bytes, message: str) -> None:
    with pytest.raises(JwksError, match=message):
        parse_jwks(document, "test")


def test_verification_keys_survive_pickling(keys: Keys) -> None:
    key = parse_jwks(json.dumps(jwks(keys.trusted[0])), "test").keys[keys.trusted[0].kid]
    copy = pickle.loads(pickle.dumps(key))  # noqa: S301 - our own bytes
    signature = keys.trusted[0].private.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    copy.public_key.verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())
    assert (copy.kid, copy.signature_bytes) == (key.kid, key.signature_bytes)


# --- sources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/jwk",
        "http://127.0.0.1:8080/jwk",
        "http://localhost/jwk",
        "http://[::1]/jwk",
    ],
)
def test_https_anywhere_and_http_only_on_loopback(url: str) -> None:
    check_jwks_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://v1.api.us.janrain.com/x/login/jwk", "refusing plain http"),
        ("file:///etc/jwks.json", "not an http"),
        ("ftp://example.com/jwk", "not an http"),
        ("https://user:secret@example.com/jwk", "must not carry credentials"),
        ("https:///jwk", "not an http"),
    ],
)
def test_unsafe_jwks_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(KeySourceError, match=message):
        load_key_source(url)


def test_jwks_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeySourceError, match=r"cannot read JWKS file .*missing\.json"):
        load_key_source(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"keys": [')
    with pytest.raises(KeySourceError, match=r"broken\.json is not JSON"):
        load_key_source(str(broken))


def test_url_keys_load_at_start(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.publish(*keys.trusted)
    source = load_key_source(jwks_server.url())
    assert isinstance(source, PinnedJwksUrl)
    assert set(source.kids) == {k.kid for k in keys.trusted}
    assert source.pinned_url == jwks_server.url()
    assert jwks_server.paths() == ["/jwks"]


@pytest.mark.parametrize(
    ("status", "body", "headers", "message"),
    [
        (500, b"oops", {}, "HTTP 500"),
        (404, b"{}", {}, "HTTP 404"),
        (200, b"<html>", {}, "is not JSON"),
        (200, b'{"keys": [], "pad": "' + b"x" * 300_000 + b'"}', {}, "larger than"),
        (302, b"", {"Location": "/elsewhere"}, "redirects are not followed"),
    ],
)
def test_a_url_that_does_not_serve_a_usable_jwks_fails_at_start(
    jwks_server: JwksServer, status: int, body: bytes, headers: dict[str, str], message: str
) -> None:
    jwks_server.respond("/jwks", status, body, headers)
    with pytest.raises(KeyFetchError, match=message):
        load_key_source(jwks_server.url())
    assert "/elsewhere" not in jwks_server.paths()


def test_an_unreachable_url_fails_at_start(jwks_server: JwksServer) -> None:
    url = jwks_server.url()
    jwks_server.stop()
    with pytest.raises(KeyFetchError, match=r"cannot fetch the JWKS from http://127\.0\.0\.1:"):
        load_key_source(url)


def test_jku_cannot_differ_from_a_jwks_url(jwks_server: JwksServer) -> None:
    with pytest.raises(KeySourceError, match="differs from the JWKS URL"):
        load_key_source(jwks_server.url(), pinned_url="https://other.example/jwk")


# --- rotation and cooldown ----------------------------------------------------------------


def pinned(server: JwksServer, clock: ManualClock, cooldown: float = 300) -> PinnedJwksUrl:
    source = PinnedJwksUrl(server.url(), cooldown=cooldown, clock=clock)
    source.load()
    return source


def reason(verifier: Verifier, token: str) -> str | None:
    try:
        verifier.verify_compact(token)
    except Rejection as rejection:
        return rejection.reason
    return None


def test_a_rotated_in_key_verifies_after_one_refetch(keys: Keys, jwks_server: JwksServer) -> None:
    a, b, c = keys.trusted
    jwks_server.publish(a, b, c)
    clock = ManualClock()
    verifier = Verifier(pinned(jwks_server, clock))
    jwks_server.publish(b, c, keys.rotated_in)  # Identity Cloud rotates: a out, a new key in
    token = sign(keys.rotated_in)

    # The cooldown counts from the last refetch an unknown kid caused, not from the start-up
    # load: a key published just after start-up verifies on its first token.
    assert reason(verifier, token) is None
    assert jwks_server.paths() == ["/jwks", "/jwks"]
    # The retired key is gone with the refetch, and asking again does not refetch.
    assert reason(verifier, sign(a)) == VerifyReason.UNKNOWN_KID
    assert reason(verifier, sign(b)) is None
    assert jwks_server.paths() == ["/jwks", "/jwks"]

    # The next new key waits for the cooldown since that refetch.
    jwks_server.publish(b, c, keys.rotated_in, keys.foreign)
    clock.advance(299)
    assert reason(verifier, sign(keys.foreign)) == VerifyReason.UNKNOWN_KID
    assert jwks_server.paths() == ["/jwks", "/jwks"]
    clock.advance(1)
    assert reason(verifier, sign(keys.foreign)) is None
    assert jwks_server.paths() == ["/jwks", "/jwks", "/jwks"]


def test_a_flood_of_unknown_kids_fetches_once_per_cooldown(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.publish(*keys.trusted)
    clock = ManualClock()
    verifier = Verifier(pinned(jwks_server, clock, cooldown=300))
    forged = [sign(keys.foreign.relabeled(f"{i:040x}")) for i in range(200)]

    for _minute in range(15):  # 200 unknown kids a minute for a quarter of an hour
        for token in forged:
            assert reason(verifier, token) == VerifyReason.UNKNOWN_KID
        clock.advance(60)

    # The start-up fetch, then one refetch at minutes 0, 5 and 10: 4 requests for 3000 tokens.
    assert len(jwks_server.paths()) == 4
    assert reason(verifier, sign(keys.trusted[0])) is None


def test_key_server_down_keeps_the_last_good_keys(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.publish(*keys.trusted)
    clock = ManualClock()
    source = pinned(jwks_server, clock)
    verifier = Verifier(source)
    jwks_server.respond("/jwks", 503, b"maintenance")
    clock.advance(301)

    assert reason(verifier, sign(keys.rotated_in)) == VerifyReason.UNKNOWN_KID
    assert "HTTP 503" in (source.last_error or "")
    assert all(reason(verifier, sign(k)) is None for k in keys.trusted)

    jwks_server.stop()  # now refusing connections altogether
    clock.advance(301)
    assert reason(verifier, sign(keys.rotated_in)) == VerifyReason.UNKNOWN_KID
    assert "cannot fetch" in (source.last_error or "")
    assert all(reason(verifier, sign(k)) is None for k in keys.trusted)
    assert source.attempts == 3


def test_a_refresh_that_serves_no_usable_key_keeps_the_last_good_keys(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.publish(*keys.trusted)
    clock = ManualClock()
    verifier = Verifier(pinned(jwks_server, clock))
    jwks_server.respond("/jwks", 200, b'{"keys": []}')
    clock.advance(301)
    assert reason(verifier, sign(keys.foreign)) == VerifyReason.UNKNOWN_KID
    assert reason(verifier, sign(keys.trusted[1])) is None


def test_concurrent_unknown_kids_share_one_refetch(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.publish(*keys.trusted)
    clock = ManualClock()
    source = pinned(jwks_server, clock)
    jwks_server.publish(*keys.trusted, keys.rotated_in)
    clock.advance(300)
    start = threading.Barrier(8)
    found: list[bool] = []

    def look_up() -> None:
        start.wait()
        found.append(source.key_for(keys.rotated_in.kid) is not None)

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [True] * 8
    assert len(jwks_server.paths()) == 2


def test_a_pickled_source_keeps_its_keys_and_the_cooldown_left(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.publish(*keys.trusted)
    clock = ManualClock()
    source = pinned(jwks_server, clock)
    assert source.key_for(keys.foreign.kid) is None  # the refetch that starts a cooldown
    clock.advance(100)

    copy: PinnedJwksUrl = pickle.loads(pickle.dumps(source))  # noqa: S301 - as a worker gets it

    assert set(copy.kids) == {k.kid for k in keys.trusted}
    assert copy.key_for(keys.foreign.kid) is None  # 200 s of cooldown left: no request
    assert jwks_server.paths() == ["/jwks", "/jwks"]
    copy_clock: ManualClock = copy._clock  # type: ignore[assignment]
    copy_clock.advance(200)
    assert copy.key_for(keys.foreign.kid) is None
    assert jwks_server.paths() == ["/jwks", "/jwks", "/jwks"]


# --- configuration ------------------------------------------------------------------------


def test_verifier_from_env_is_none_without_a_key_source() -> None:
    assert verifier_from_env(environ={}) is None
    assert verifier_from_env(environ={"WEBHOOKS_MIGRATE_JWKS": "  "}) is None


def test_verifier_from_env_reads_keys_issuer_and_audience(keys: Keys, jwks_file: Path) -> None:
    verifier = verifier_from_env(
        mode="live",
        environ={
            "WEBHOOKS_MIGRATE_JWKS": str(jwks_file),
            "WEBHOOKS_MIGRATE_ISSUER": "https://iss.example/webhooks",
            "WEBHOOKS_MIGRATE_AUDIENCE": "https://aud.example/",
        },
    )
    assert verifier is not None
    assert (verifier.issuer, verifier.audience, verifier.mode) == (
        "https://iss.example/webhooks",
        "https://aud.example/",
        "live",
    )
    assert verifier.keys.key_for(keys.trusted[2].kid) is not None


def test_a_configured_but_unusable_key_source_is_an_error_not_no_verification(
    jwks_server: JwksServer,
) -> None:
    url = jwks_server.url()
    jwks_server.stop()
    with pytest.raises(KeyFetchError):
        verifier_from_env(environ={"WEBHOOKS_MIGRATE_JWKS": url})


def test_a_verifier_survives_pickling(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.publish(*keys.trusted)
    verifier = build_verifier(jwks_server.url(), issuer="https://iss.example/", require_typ=True)
    copy: Verifier = pickle.loads(pickle.dumps(verifier))  # noqa: S301 - our own bytes
    assert copy.describe() == verifier.describe()
    copy.verify_compact(sign(keys.trusted[0], {"iss": "https://iss.example/", "jti": "j"}))


def test_an_ec_key_in_the_set_is_never_used(keys: Keys) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    entry = {
        "kty": "EC",
        "kid": keys.trusted[0].kid,
        "crv": "P-256",
        "x": str(ec_key.x),
        "y": str(ec_key.y),
    }
    keyset = parse_jwks(json.dumps({"keys": [entry, keys.trusted[1].jwk()]}), "test")
    assert keys.trusted[0].kid not in keyset.keys
