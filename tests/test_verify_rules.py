"""The verifier's rules: tokens that must pass, and the hostile set, each refused for its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    AUDIENCE,
    ISSUER,
    NOW,
    SEED_KID,
    JwksServer,
    Keys,
    SigningKey,
    b64url,
    header_for,
    jwks_file,
    jwks_server,
    keys,
    make_claims,
    sign,
    sign_hmac,
    unsigned,
)

from adapters.errors import Rejection
from adapters.set_token import MAX_TOKEN_CHARS, parse_compact
from migrate.verify import (
    KeySet,
    StaticKeys,
    VerificationKey,
    Verifier,
    VerifyMode,
    VerifyReason,
    load_key_source,
    parse_jwks,
)

FIXTURES = Path(__file__).parent / "fixtures"


class CountingKeys(StaticKeys):
    """A real key source that also counts lookups, to show a rule refused before any."""

    def __init__(self, keyset: KeySet) -> None:
        super().__init__(keyset, "test keys")
        self.lookups = 0

    def key_for(self, kid: str) -> VerificationKey | None:
        self.lookups += 1
        return super().key_for(kid)


def keyset(*signing_keys: SigningKey) -> KeySet:
    return parse_jwks(json.dumps({"keys": [k.jwk() for k in signing_keys]}), "test")


@pytest.fixture
def source(keys: Keys) -> CountingKeys:
    return CountingKeys(keyset(*keys.trusted))


def refusal(verifier: Verifier, token: str, *, now: float = NOW) -> Rejection:
    with pytest.raises(Rejection) as caught:
        verifier.verify_compact(token, now=now)
    return caught.value


# --- tokens that verify -------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_token_from_each_published_key_verifies(
    keys: Keys, source: CountingKeys, index: int
) -> None:
    claims = make_claims()
    token = Verifier(source, issuer=ISSUER, audience=AUDIENCE).verify_compact(
        sign(keys.trusted[index], claims)
    )
    assert token.claims == claims


def test_old_style_header_with_only_alg_and_kid_verifies(keys: Keys, source: CountingKeys) -> None:
    key = keys.trusted[0]
    Verifier(source).verify_compact(sign(key, header={"alg": "RS256", "kid": key.kid}))


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["https://other.example", AUDIENCE]])
def test_aud_as_string_or_list_containing_the_listener(
    keys: Keys, source: CountingKeys, aud: Any
) -> None:
    Verifier(source, audience=AUDIENCE).verify_compact(sign(keys.trusted[0], make_claims(aud=aud)))


@pytest.mark.parametrize("typ", ["secevent+jwt", "application/secevent+jwt", "SecEvent+JWT"])
def test_typ_accepts_the_set_media_type_in_its_equivalent_spellings(
    keys: Keys, source: CountingKeys, typ: str
) -> None:
    key = keys.trusted[0]
    Verifier(source, require_typ=True).verify_compact(sign(key, header=header_for(key, typ=typ)))


def test_wrapped_and_escaped_token_from_documentation_verifies(
    keys: Keys, source: CountingKeys
) -> None:
    token = sign(keys.trusted[1])
    while "_" not in token:  # the Markdown escape needs an underscore to escape
        token = sign(keys.trusted[1])
    wrapped = "\n".join(token[i : i + 76] for i in range(0, len(token), 76)).replace("_", "\\_")
    assert (
        Verifier(source).verify_compact(wrapped).signing_input == token.rsplit(".", 1)[0].encode()
    )


def test_bulk_mode_ignores_freshness(keys: Keys, source: CountingKeys) -> None:
    ancient = sign(keys.trusted[0], make_claims(iat=1_000_000_000))
    future = sign(keys.trusted[0], make_claims(iat=int(NOW) + 86_400))
    verifier = Verifier(source, mode=VerifyMode.BULK)
    verifier.verify_compact(ancient, now=NOW)
    verifier.verify_compact(future, now=NOW)


# --- the hostile set ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "", "HS256", "RS384", "RS512", "PS256", "ES256", "rs256"]
)
def test_only_rs256_is_allowed_and_refused_before_any_key_lookup(
    keys: Keys, source: CountingKeys, alg: str
) -> None:
    key = keys.trusted[0]
    token = unsigned(make_claims(), header_for(key, alg=alg))
    rejection = refusal(Verifier(source), token)
    expected = VerifyReason.ALG_NOT_ALLOWED if alg else "schema"  # "" fails the header schema
    assert (rejection.reason, rejection.pointer) == (expected, "/header/alg")
    assert source.lookups == 0


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_the_rsa_public_key_is_refused(
    keys: Keys, source: CountingKeys, alg: str
) -> None:
    # The classic confusion attack: the public key (which anyone has) used as an HMAC secret.
    key = keys.trusted[0]
    for secret in (key.public_pem(), json.dumps(key.jwk()).encode()):
        token = sign_hmac(secret, make_claims(), header_for(key, alg=alg))
        assert refusal(Verifier(source), token).reason == VerifyReason.ALG_NOT_ALLOWED
    assert source.lookups == 0


def test_rs256_by_a_foreign_key_claiming_a_published_kid_is_a_bad_signature(
    keys: Keys, source: CountingKeys
) -> None:
    impostor = keys.foreign.relabeled(keys.trusted[0].kid)
    rejection = refusal(Verifier(source), sign(impostor))
    assert (rejection.reason, rejection.pointer) == (VerifyReason.BAD_SIGNATURE, "/signature")


def test_rs256_by_a_foreign_key_with_its_own_kid_is_an_unknown_kid(
    keys: Keys, source: CountingKeys
) -> None:
    rejection = refusal(Verifier(source), sign(keys.foreign))
    assert (rejection.reason, rejection.pointer) == (VerifyReason.UNKNOWN_KID, "/header/kid")
    assert keys.foreign.kid in rejection.message


def test_jku_pointing_elsewhere_is_refused_and_never_fetched(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.publish(*keys.trusted)
    jwks_server.publish(keys.foreign, path="/attacker/jwk")
    verifier = Verifier(load_key_source(jwks_server.url()))
    token = sign(
        keys.foreign, header=header_for(keys.foreign, jku=jwks_server.url("/attacker/jwk"))
    )

    rejection = refusal(verifier, token)

    assert (rejection.reason, rejection.pointer) == (VerifyReason.JKU_MISMATCH, "/header/jku")
    assert jwks_server.paths() == ["/jwks"]  # the start-up load, and nothing else


def test_jku_equal_to_the_pinned_url_verifies(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.publish(*keys.trusted)
    key = keys.trusted[2]
    verifier = Verifier(load_key_source(jwks_server.url()))
    verifier.verify_compact(sign(key, header=header_for(key, jku=jwks_server.url())))


def test_jku_of_a_jwks_file_is_compared_with_the_url_the_user_names(
    keys: Keys, jwks_file: Path
) -> None:
    pinned = "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/login/jwk"
    key = keys.trusted[0]
    verifier = Verifier(load_key_source(str(jwks_file), pinned_url=pinned))
    verifier.verify_compact(sign(key, header=header_for(key, jku=pinned)))
    other = sign(key, header=header_for(key, jku="https://attacker.example/jwk"))
    assert refusal(verifier, other).reason == VerifyReason.JKU_MISMATCH


def test_a_jwks_file_without_a_named_url_does_not_compare_jku(keys: Keys, jwks_file: Path) -> None:
    # The keys are pinned by the file; jku is never fetched, so it cannot bring in a key.
    key = keys.trusted[0]
    verifier = Verifier(load_key_source(str(jwks_file)))
    verifier.verify_compact(sign(key, header=header_for(key, jku="https://elsewhere.example/j")))


@pytest.mark.parametrize("member", ["jwk", "x5u", "x5c"])
def test_key_material_in_the_header_is_refused_and_never_used(
    keys: Keys, source: CountingKeys, jwks_server: JwksServer, member: str
) -> None:
    attacker = keys.foreign
    value: Any = {
        "jwk": attacker.jwk(),
        "x5u": jwks_server.url("/attacker/cert.pem"),
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }[member]
    token = sign(attacker, header=header_for(attacker, **{member: value}))

    rejection = refusal(Verifier(source), token)

    assert (rejection.reason, rejection.pointer) == (
        VerifyReason.HEADER_KEY_MATERIAL,
        "/header/" + member,
    )
    assert source.lookups == 0
    assert jwks_server.paths() == []


def test_critical_header_extensions_are_refused(keys: Keys, source: CountingKeys) -> None:
    key = keys.trusted[0]
    token = sign(key, header=header_for(key, crit=["b64"], b64=False))
    assert refusal(Verifier(source), token).reason == VerifyReason.CRIT_UNSUPPORTED


def test_stripped_signature_is_refused_by_length(keys: Keys, source: CountingKeys) -> None:
    stripped = sign(keys.trusted[0]).rsplit(".", 1)[0] + "."
    rejection = refusal(Verifier(source), stripped)
    assert (rejection.reason, rejection.pointer) == (VerifyReason.SIGNATURE_LENGTH, "/signature")
    assert "0 bytes" in rejection.message


def test_truncated_signature_is_refused_by_length(keys: Keys, source: CountingKeys) -> None:
    token = sign(keys.trusted[0])
    truncated = token[: -len("AAAA")]  # three bytes shorter
    rejection = refusal(Verifier(source), truncated)
    assert rejection.reason == VerifyReason.SIGNATURE_LENGTH
    assert "253 bytes" in rejection.message


def test_two_segments_are_not_a_token(keys: Keys, source: CountingKeys) -> None:
    two_segments = sign(keys.trusted[0]).rsplit(".", 1)[0]
    assert refusal(Verifier(source), two_segments).reason == VerifyReason.BAD_TOKEN


def test_altered_payload_is_a_bad_signature(keys: Keys, source: CountingKeys) -> None:
    header, _, signature = sign(keys.trusted[0], make_claims()).split(".")
    forged_claims = make_claims(iss=ISSUER, jti="forged")
    forged = ".".join([header, b64url(json.dumps(forged_claims).encode()), signature])
    assert refusal(Verifier(source), forged).reason == VerifyReason.BAD_SIGNATURE


def test_a_flipped_signature_bit_is_a_bad_signature(keys: Keys, source: CountingKeys) -> None:
    token = parse_compact(sign(keys.trusted[0]))
    flipped = bytes([token.signature[0] ^ 1]) + token.signature[1:]
    text = token.signing_input.decode() + "." + b64url(flipped)
    assert refusal(Verifier(source), text).reason == VerifyReason.BAD_SIGNATURE


@pytest.mark.parametrize("damage", ["*", "+", "/", "=", "é", "%41"])
def test_bad_base64_is_a_bad_token(keys: Keys, source: CountingKeys, damage: str) -> None:
    header, claims, signature = sign(keys.trusted[0]).split(".")
    bad = ".".join([header, claims[:10] + damage + claims[10:], signature])
    rejection = refusal(Verifier(source), bad)
    assert (rejection.reason, rejection.pointer) == (VerifyReason.BAD_TOKEN, "/claims")
    assert source.lookups == 0


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "secevent"])
def test_wrong_typ_is_refused(keys: Keys, source: CountingKeys, typ: str) -> None:
    key = keys.trusted[0]
    rejection = refusal(Verifier(source), sign(key, header=header_for(key, typ=typ)))
    assert (rejection.reason, rejection.pointer) == (VerifyReason.TYP_MISMATCH, "/header/typ")
    assert source.lookups == 0


def test_require_typ_refuses_a_token_without_typ(keys: Keys, source: CountingKeys) -> None:
    key = keys.trusted[0]
    token = sign(key, header=header_for(key, typ=None))
    Verifier(source).verify_compact(token)  # typ is optional by default
    assert refusal(Verifier(source, require_typ=True), token).reason == VerifyReason.TYP_MISMATCH


def test_missing_kid_is_refused(keys: Keys, source: CountingKeys) -> None:
    key = keys.trusted[0]
    rejection = refusal(Verifier(source), sign(key, header=header_for(key, kid=None)))
    assert rejection.reason == VerifyReason.MISSING_KID


@pytest.mark.parametrize(
    ("claims", "reason", "pointer"),
    [
        (make_claims(iss="Akamai Identity Cloud"), VerifyReason.ISS_MISMATCH, "/claims/iss"),
        (make_claims(iss=None), VerifyReason.MISSING_CLAIM, "/claims"),
        (make_claims(aud="https://attacker.example/"), VerifyReason.AUD_MISMATCH, "/claims/aud"),
        (make_claims(aud=["https://a.example/"]), VerifyReason.AUD_MISMATCH, "/claims/aud"),
        (make_claims(aud=7), VerifyReason.AUD_MISMATCH, "/claims/aud"),
        (make_claims(aud=None), VerifyReason.MISSING_CLAIM, "/claims"),
    ],
)
def test_wrong_iss_or_aud_is_refused(
    keys: Keys, source: CountingKeys, claims: dict[str, Any], reason: str, pointer: str
) -> None:
    verifier = Verifier(source, issuer=ISSUER, audience=AUDIENCE)
    rejection = refusal(verifier, sign(keys.trusted[0], claims))
    assert (rejection.reason, rejection.pointer) == (reason, pointer)


def test_iss_and_aud_are_not_checked_unless_configured(keys: Keys, source: CountingKeys) -> None:
    claims = make_claims(iss="Akamai Identity Cloud", aud="https://example.com/path/to/endpoint")
    Verifier(source).verify_compact(sign(keys.trusted[0], claims))


def test_claims_are_judged_only_after_the_signature(keys: Keys, source: CountingKeys) -> None:
    # A forged token learns nothing about which claims would pass.
    impostor = keys.foreign.relabeled(keys.trusted[0].kid)
    token = sign(impostor, make_claims(iss="wrong"))
    assert refusal(Verifier(source, issuer=ISSUER), token).reason == VerifyReason.BAD_SIGNATURE


def test_oversized_token_is_refused(keys: Keys, source: CountingKeys) -> None:
    huge = make_claims(padding="x" * MAX_TOKEN_CHARS)
    rejection = refusal(Verifier(source), sign(keys.trusted[0], huge))
    assert rejection.reason == VerifyReason.TOO_LARGE
    assert source.lookups == 0


# --- live mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iat_offset", "reason"),
    [
        (301, VerifyReason.IAT_IN_FUTURE),  # beyond the 300 s skew
        (299, None),
        (0, None),
        (-24 * 3600, None),  # a retry, a day late
        (-6.9 * 86400, None),  # a redelivery, almost 7 days late
        (-(7 * 86400 + 301), VerifyReason.IAT_TOO_OLD),
    ],
)
def test_live_mode_enforces_the_iat_window(
    keys: Keys, source: CountingKeys, iat_offset: float, reason: str | None
) -> None:
    token = sign(keys.trusted[0], make_claims(iat=int(NOW + iat_offset)))
    verifier = Verifier(source, mode=VerifyMode.LIVE, skew=300)
    if reason is None:
        verifier.verify_compact(token, now=NOW)
    else:
        rejection = refusal(verifier, token)
        assert (rejection.reason, rejection.pointer) == (reason, "/claims/iat")


def test_live_mode_uses_the_verifiers_clock_without_now(keys: Keys, source: CountingKeys) -> None:
    token = sign(keys.trusted[0], make_claims(iat=int(NOW) + 3600))
    verifier = Verifier(source, mode="live", clock=lambda: NOW)
    with pytest.raises(Rejection) as caught:
        verifier.verify_compact(token)
    assert caught.value.reason == VerifyReason.IAT_IN_FUTURE
    assert "60 min in the future" in caught.value.message


@pytest.mark.parametrize(
    ("iat", "reason"), [(None, VerifyReason.MISSING_CLAIM), ("1700000000", VerifyReason.BAD_CLAIM)]
)
def test_live_mode_needs_a_numeric_iat(
    keys: Keys, source: CountingKeys, iat: Any, reason: str
) -> None:
    token = sign(keys.trusted[0], make_claims(iat=iat) if iat else make_claims(iat=None))
    assert refusal(Verifier(source, mode=VerifyMode.LIVE), token).reason == reason


# --- the seed's token ---------------------------------------------------------------------


def test_seed_events_store_token_is_refused_by_signature_length_not_a_crash(
    keys: Keys,
) -> None:
    # The documentation copy lost bytes: 254 of the 256 a 2048-bit key signs with.
    text = (FIXTURES / "seed-set-wrapped-token.txt").read_text()
    stand_in = keys.trusted[0].relabeled(SEED_KID)  # we do not have Identity Cloud's key
    rejection = refusal(Verifier(StaticKeys(keyset(stand_in), "test keys")), text)
    assert (rejection.reason, rejection.pointer) == (VerifyReason.SIGNATURE_LENGTH, "/signature")
    assert "signature is 254 bytes" in rejection.message
    assert "signs with 256" in rejection.message


def test_seed_token_with_keys_lacking_its_kid_is_an_unknown_kid(source: CountingKeys) -> None:
    text = (FIXTURES / "seed-set-wrapped-token.txt").read_text()
    rejection = refusal(Verifier(source), text)
    assert rejection.reason == VerifyReason.UNKNOWN_KID
    assert SEED_KID in rejection.message


def test_rejection_codes_are_the_documented_strings() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "verify.md").read_text()
    for reason in VerifyReason:
        assert f"`{reason.value}`" in doc, f"{reason.value} is not documented in docs/verify.md"
