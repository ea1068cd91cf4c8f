"""Compact security event tokens (RS256 JWS, RFC 8417) → header, claims and unified event.

No signature is checked here: :class:`ParsedToken` carries the exact signing input and the
signature bytes so that :mod:`migrate.verify` can check them without parsing the token again.

Tokens copied out of documentation arrive wrapped across lines and with Markdown escapes
(``\\_``); both are tolerated. Anything else that is not base64url is refused.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from adapters import schema_registry as schemas
from adapters.claims import check_claims, event_from_claims
from adapters.errors import Reason, Rejection
from adapters.unified import Delivery, UnifiedEvent

# A real token is 1-2 KB; anything this large is hostile or not a token.
MAX_TOKEN_CHARS = 64 * 1024

_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_WHITESPACE = re.compile(r"\s")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SEGMENTS = ("header", "claims", "signature")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A decoded (not verified) token."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    """``base64url(header) + "." + base64url(claims)`` exactly as signed, ASCII."""
    signature: bytes


def clean_compact(text: str) -> str:
    """Undo what copying a token out of a document does: line wraps, spaces, ``\\_`` escapes."""
    # Both checks run at C speed; the common case (a clean token) copies nothing.
    if "\\" in text:
        text = text.replace("\\_", "_")
    if _WHITESPACE.search(text):
        text = "".join(text.split())
    return text


def b64url_decode(segment: str, name: str, *, alphabet_checked: bool = False) -> bytes:
    """Strict base64url without padding, as JWS requires."""
    if not alphabet_checked:
        _check_alphabet(segment, name)
    try:
        padded = (segment + "=" * (-len(segment) % 4)).encode("ascii")
        return binascii.a2b_base64(padded.translate(_URL_TO_STD), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejection(
            Reason.BAD_TOKEN, "/" + name, f"{name} segment is not valid base64url: {exc}"
        ) from None


def _check_alphabet(segment: str, name: str) -> None:
    valid = _B64URL.match(segment)
    assert valid is not None  # the pattern matches the empty prefix of anything
    if valid.end() != len(segment):
        i = valid.end()
        raise Rejection(
            Reason.BAD_TOKEN,
            "/" + name,
            f"character {segment[i]!r} at offset {i} of the {name} segment is not base64url",
        )


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


@lru_cache(maxsize=256)
def _decode_header(segment: str) -> dict[str, Any]:
    # Tokens signed by one key share one header, so the cache makes this free in bulk.
    # Duplicate members are refused: two "alg" or "kid" values would be ambiguous to verify.
    raw = b64url_decode(segment, "header")
    try:
        header = json.loads(raw, object_pairs_hook=_reject_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejection(Reason.BAD_TOKEN, "/header", f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise Rejection(Reason.BAD_TOKEN, "/header", "header is not a JSON object")
    if not schemas.fast_check(schemas.SET_HEADER)(header):
        problem = schemas.explain(schemas.SET_HEADER, header)
        assert problem is not None
        raise Rejection(Reason.SCHEMA, "/header" + problem.pointer, problem.message)
    return header


def parse_compact(text: str) -> ParsedToken:
    """Split and decode a compact JWS; raise :class:`Rejection` with a precise reason."""
    if len(text) > MAX_TOKEN_CHARS:
        raise Rejection(
            Reason.TOO_LARGE, "", f"token is {len(text)} characters; the limit is {MAX_TOKEN_CHARS}"
        )
    parts = text.split(".")
    match = _B64URL.fullmatch
    if len(parts) != 3 or not (match(parts[0]) and match(parts[1]) and match(parts[2])):
        # Only text that is not already a clean token pays for cleaning.
        parts = clean_compact(text).split(".")
    if len(parts) != 3:
        raise Rejection(
            Reason.BAD_TOKEN,
            "",
            f"a compact token has 3 dot-separated segments, this has {len(parts)}",
        )
    header_b64, claims_b64, signature_b64 = parts
    header = dict(_decode_header(header_b64))  # a copy: callers may not mutate the cache
    clean = match(claims_b64) is not None and match(signature_b64) is not None
    raw_claims = b64url_decode(claims_b64, "claims", alphabet_checked=clean)
    signature = b64url_decode(signature_b64, "signature", alphabet_checked=clean)
    try:
        # RFC 7519 §4: a parser may keep the last of duplicate claim names; orjson does.
        claims = orjson.loads(raw_claims)
    except orjson.JSONDecodeError as exc:
        raise Rejection(Reason.BAD_TOKEN, "/claims", f"claims are not JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise Rejection(Reason.BAD_TOKEN, "/claims", "claims are not a JSON object")
    return ParsedToken(
        header=header,
        claims=claims,
        signing_input=(header_b64 + "." + claims_b64).encode("ascii"),
        signature=signature,
    )


def event_from_parsed(token: ParsedToken, *, delivery: Delivery | None = None) -> UnifiedEvent:
    try:
        check_claims(token.claims)
    except Rejection as rejection:
        raise rejection.under("/claims") from None
    return event_from_claims(token.claims, delivery=delivery, checked=True)


def event_from_token(text: str) -> UnifiedEvent:
    """A compact token (possibly wrapped or escaped) → unified event, unverified."""
    return event_from_parsed(parse_compact(text))
