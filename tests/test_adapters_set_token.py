"""Compact security event tokens: splitting, decoding, tolerance of copied text, rejections."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    HEADER_JKU_TYP,
    SEED_TOKEN_CLAIMS,
    compact,
    outcome,
    tokens,
    v3_claims,
    wrapped,
)

from adapters import schema_registry
from adapters.claims import claims_from_event
from adapters.errors import Rejection
from adapters.set_token import MAX_TOKEN_CHARS, event_from_token, parse_compact

FIXTURES = Path(__file__).parent / "fixtures"
SEED_TOKEN = (FIXTURES / "seed-set-wrapped-token.txt").read_text("utf-8")

# Decoded by hand from the token in the events-store document (base64url of each segment).
SEED_HEADER = {"alg": "RS256", "kid": "1dc12073699c68c1daee6c9a100e2b43febdcd92"}
SEED_CLAIMS = SEED_TOKEN_CLAIMS
VALID = compact(SEED_HEADER, SEED_CLAIMS)


def rejection_of(text: str) -> Rejection:
    with pytest.raises(Rejection) as caught:
        event_from_token(text)
    return caught.value


def test_the_seed_token_wrapped_and_escaped_as_the_docs_print_it_decodes() -> None:
    assert "\\_" in SEED_TOKEN
    assert "  \n" in SEED_TOKEN
    token = parse_compact(SEED_TOKEN)
    assert token.header == SEED_HEADER
    assert token.claims == SEED_CLAIMS
    joined = "".join(SEED_TOKEN.replace("\\_", "_").split())
    header_b64, claims_b64, signature_b64 = joined.split(".")
    assert token.signing_input == f"{header_b64}.{claims_b64}".encode("ascii")
    assert token.signature == base64.urlsafe_b64decode(signature_b64 + "==")
    # 254 bytes, not an RS256 signature's 256: the docs' copy lost characters, which is the
    # verifier's business (signature), not the parser's.
    assert len(token.signature) == 254


def test_non_breaking_spaces_from_a_web_page_are_tolerated() -> None:
    nbsp = (FIXTURES / "set-wrapped-token-nbsp-indent.txt").read_text("utf-8")
    assert "\u00a0" in nbsp
    assert parse_compact(nbsp) == parse_compact(SEED_TOKEN)


def test_the_jku_typ_header_of_newer_tokens_is_accepted() -> None:
    token = parse_compact(compact(HEADER_JKU_TYP, SEED_CLAIMS))
    assert token.header == HEADER_JKU_TYP


@pytest.mark.parametrize(
    "name", ["seed-truncated-token-events-store-doc.txt", "seed-truncated-token-migration-doc.txt"]
)
def test_the_truncated_tokens_in_the_docs_are_rejected_at_their_header(name: str) -> None:
    # Both start mid-header (the docs cut them): the first segment is not a JOSE header.
    rejection = rejection_of((FIXTURES / name).read_text("utf-8"))
    assert (rejection.reason, rejection.pointer) == ("bad_token", "/header")


def _segments(header: bytes, claims: bytes, signature: bytes = b"sig") -> str:
    return ".".join(
        base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in (header, claims, signature)
    )


CLAIMS_JSON = json.dumps(SEED_CLAIMS).encode()
HEADER_JSON = json.dumps(SEED_HEADER).encode()


@pytest.mark.parametrize(
    ("text", "reason", "pointer"),
    [
        ("", "bad_token", ""),
        ("abc", "bad_token", ""),
        (VALID.rsplit(".", 1)[0], "bad_token", ""),  # two segments: the signature is missing
        (VALID + ".extra", "bad_token", ""),
        (_segments(b'{"kid":"k"}', CLAIMS_JSON), "schema", "/header/alg"),
        (_segments(b'{"alg":""}', CLAIMS_JSON), "schema", "/header/alg"),
        (_segments(b'{"alg":"RS256","alg":"none"}', CLAIMS_JSON), "bad_token", "/header"),
        (_segments(b"[1]", CLAIMS_JSON), "bad_token", "/header"),
        (_segments(b"not json", CLAIMS_JSON), "bad_token", "/header"),
        (_segments(HEADER_JSON, b"not json"), "bad_token", "/claims"),
        (_segments(HEADER_JSON, b'["claims"]'), "bad_token", "/claims"),
        (
            _segments(HEADER_JSON, b'{"iss":"x","iat":NaN,"jti":"j","events":{"a":{}}}'),
            "bad_token",
            "/claims",
        ),
        ("eyJhbGciOiJSUzI1NiJ9.e30.c2ln!", "bad_token", "/signature"),
        ("eyJhbGciOiJSUzI1NiJ9.e3$0.c2ln", "bad_token", "/claims"),
        ("eyJhbGciOiJSUzI1NiJ9.e30.c", "bad_token", "/signature"),  # 1 char: never base64
        ("eyJhbGciOiJSUzI1NiJ9.e30=.c2ln", "bad_token", "/claims"),  # padding is not JWS
        ("eyJhbGciOiJSUzI1NiJ9.e30.c2ln==", "bad_token", "/signature"),
        ("eyJhbGciOiJSUzI1NiJ9.e30.c2l+", "bad_token", "/signature"),  # base64, not base64url
        ("eyJhbGciOiJSUzI1NiJ9.e30.c2l/", "bad_token", "/signature"),
        ("eyJhbGciOiJSUzI1NiJ9\u200b.e30.c2ln", "bad_token", "/header"),  # zero-width space
        (
            _segments(HEADER_JSON, json.dumps({**SEED_CLAIMS, "toe": "1"}).encode()),
            "schema",
            "/claims/toe",
        ),
        (
            _segments(HEADER_JSON, json.dumps({**SEED_CLAIMS, "events": {}}).encode()),
            "no_event",
            "/claims/events",
        ),
        ("e" * (MAX_TOKEN_CHARS + 1), "too_large", ""),
    ],
)
def test_bad_tokens_are_rejected_precisely(text: str, reason: str, pointer: str) -> None:
    rejection = rejection_of(text)
    assert (rejection.reason, rejection.pointer) == (reason, pointer)
    assert rejection.message


def test_a_bad_character_is_named_with_its_offset() -> None:
    rejection = rejection_of("eyJhbGciOiJSUzI1NiJ9.e30.c2ln!")
    assert "'!'" in rejection.message
    assert "offset 4" in rejection.message


def test_big_integers_in_token_claims_are_kept() -> None:
    claims = {**SEED_CLAIMS, "counter": 2**64 + 1}
    assert parse_compact(compact(SEED_HEADER, claims)).claims["counter"] == 2**64 + 1


@pytest.mark.parametrize("value", [2**64 + 1, -(2**63) - 1, 10**40, 123456789012345678901234])
def test_big_integers_are_kept_on_both_paths_and_nested(value: int) -> None:
    claims = {**SEED_CLAIMS, "big": value, "nested": {"list": [1.5, value, "x"]}}
    clean = compact(SEED_HEADER, claims)
    wrapped_copy = clean[:40] + "\n  " + clean[40:]  # not clean: the general path reads it
    for text in (clean, wrapped_copy):
        parsed = parse_compact(text).claims
        assert parsed["big"] == value
        assert isinstance(parsed["big"], int)
        assert parsed["nested"] == {"list": [1.5, value, "x"]}
        assert claims_from_event(event_from_token(text)) == claims


@pytest.mark.parametrize(
    "claims_json",
    [
        '{"big": 123456789012345678901234, "x": NaN}',
        '{"big": 123456789012345678901234, "x": "\\ud800"}',
        '{"big": 123456789012345678901234',
    ],
)
def test_claims_read_by_the_exact_path_refuse_what_the_fast_one_refuses(claims_json: str) -> None:
    header = base64.urlsafe_b64encode(json.dumps(SEED_HEADER).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(claims_json.encode()).rstrip(b"=").decode()
    rejection = rejection_of(f"{header}.{body}.{'A' * 342}")
    assert rejection.reason == "bad_token"
    assert rejection.pointer == "/claims"


def test_the_returned_header_is_the_callers_own() -> None:
    first = parse_compact(VALID)
    first.header["alg"] = "none"
    assert parse_compact(VALID).header == SEED_HEADER


@settings(max_examples=120)
@given(tokens())
def test_token_claims_round_trip_through_the_unified_event(
    generated: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    text, header, claims = generated
    token = parse_compact(text)
    assert token.header == header
    assert token.claims == claims
    assert token.signing_input == text.rsplit(".", 1)[0].encode("ascii")
    event = event_from_token(text)
    assert claims_from_event(event) == claims
    data = json.loads(json.dumps(event.to_json()))
    assert list(schema_registry.validator(schema_registry.UNIFIED).iter_errors(data)) == []


@settings(max_examples=120)
@given(tokens().flatmap(lambda t: st.tuples(st.just(t[0]), wrapped(t[0]))))
def test_a_wrapped_escaped_copy_parses_exactly_like_the_clean_token(pair: tuple[str, str]) -> None:
    clean, copied = pair
    assert parse_compact(copied) == parse_compact(clean)


@settings(max_examples=150)
@given(
    st.text(max_size=200)
    | st.text(alphabet="eyJ.-_+/= \n\\abcAB0", max_size=200)
    | v3_claims()
    .map(lambda c: compact(SEED_HEADER, c))
    .flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i] + t[i + 1 :]))
)
def test_arbitrary_text_is_converted_or_rejected_never_a_crash(text: str) -> None:
    result = outcome(event_from_token, text)
    if isinstance(result, Rejection):
        assert result.reason in {
            "bad_token",
            "schema",
            "no_event",
            "multiple_events",
            "bad_time",
            "too_large",
        }
        assert result.pointer == "" or result.pointer.startswith(
            ("/header", "/claims", "/signature")
        )
    else:
        assert result.source == "v3"


def test_claims_are_not_shared_between_parses() -> None:
    first = event_from_token(VALID)
    first.payload["iss"] = "changed by a careless caller"  # type: ignore[index]
    assert event_from_token(VALID).payload == SEED_CLAIMS
