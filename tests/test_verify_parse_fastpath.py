"""parse_compact's fast path for clean tokens (used by verification) must agree with the general
path on every input: same token, or same rejection with the same reason, pointer and message."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    header_for,
    keys,
    make_claims,
    sign,
)

from adapters import set_token
from adapters.errors import Rejection
from adapters.set_token import _parse_clean, _parse_general, parse_compact


def outcome(parse: object, text: str) -> tuple[object, ...]:
    try:
        token = parse(text)  # type: ignore[operator]
    except Rejection as rejection:
        return ("rejected", rejection.reason, rejection.pointer, rejection.message)
    return ("parsed", token.header, token.claims, token.signing_input, token.signature)


@pytest.fixture(autouse=True, params=["stdlib", "simd"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with each base64 decoder the fast path can use."""
    if request.param == "simd":
        if set_token._pybase64 is None:
            pytest.skip("pybase64 is not installed")
        monkeypatch.setattr(set_token, "_decode_clean", set_token._decode_clean_simd)
    else:
        monkeypatch.setattr(set_token, "_decode_clean", set_token._decode_clean_stdlib)
    return str(request.param)


@pytest.fixture(scope="module")
def tokens(keys: Keys) -> list[str]:
    key = keys.trusted[0]
    return [
        sign(key),
        sign(key, make_claims(aud="https://example.com/path/to/endpoint")),
        sign(key, header={"alg": "RS256", "kid": key.kid}),
        sign(key, header=header_for(key, jku="https://x.example/login/jwk")),
    ]


# Characters that copying, escaping, padding or tampering put into tokens.
NOISE = ["+", "/", "=", "==", ".", "\\_", "\\", " ", "\n", "\r\n", "\t", "é", "\x00", "!", "-", "_"]
EDITS = ["insert", "replace", "delete", "cut"]


def edited(text: str, segment: int, where: float, edit: str, noise: str) -> str:
    """``text`` with one edit at a relative position inside one of its three segments."""
    bounds = [0, *(i for i, c in enumerate(text) if c == "."), len(text)]
    segment = min(segment, len(bounds) - 2)  # an earlier cut may have left fewer segments
    start, end = bounds[segment] + (segment > 0), bounds[segment + 1]
    at = start + int((end - start) * where)
    if edit == "insert":
        return text[:at] + noise + text[at:]
    if edit == "replace":
        return text[:at] + noise + text[at + 1 :]
    if edit == "delete":
        return text[:at] + text[at + 1 :]
    return text[:at]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.floats(0, 1),
            st.sampled_from(EDITS),
            st.sampled_from(NOISE),
        ),
        max_size=3,
    ),
    st.integers(0, 3),
)
def test_fast_and_general_paths_agree(
    tokens: list[str], edits: list[tuple[int, float, str, str]], which: int
) -> None:
    text = tokens[which]
    for segment, where, edit, noise in edits:
        text = edited(text, segment, where, edit, noise)
    assert outcome(parse_compact, text) == outcome(_parse_general, text)


@pytest.mark.parametrize("noise", NOISE)
def test_every_noise_in_every_segment_agrees(tokens: list[str], noise: str) -> None:
    for segment in range(3):
        for edit in ("insert", "replace"):
            for where in (0.0, 0.5, 0.99):
                text = edited(tokens[0], segment, where, edit, noise)
                assert outcome(parse_compact, text) == outcome(_parse_general, text), (
                    segment,
                    edit,
                    where,
                )


def test_the_fast_path_takes_clean_tokens(tokens: list[str]) -> None:
    # Guards the benchmark's premise: a clean token never falls back to the slow path.
    for text in tokens:
        assert _parse_clean(text) is not None
        assert outcome(_parse_clean, text) == outcome(_parse_general, text)


@pytest.mark.parametrize(
    "text",
    ["", ".", "..", "a.b.c", "e30.e30.", "e30.W10.", "e30.e30.=", "eyJhbGciOiJub25lIn0.e30."],
)
def test_small_and_odd_inputs_agree(text: str) -> None:
    assert outcome(parse_compact, text) == outcome(_parse_general, text)


def test_the_header_cache_cannot_be_mutated_through_a_token(tokens: list[str]) -> None:
    first = parse_compact(tokens[0])
    first.header["alg"] = "none"
    assert parse_compact(tokens[0]).header["alg"] == "RS256"
    assert json.dumps(parse_compact(tokens[0]).header)  # still plain JSON data
