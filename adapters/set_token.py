"""Compact security event tokens (RS256 JWS, RFC 8417) → header, claims and unified event.

No signature is checked here: :class:`ParsedToken` carries the exact signing input and the
signature bytes so that :mod:`migrate.verify` can check them without parsing the token again.

Tokens copied out of documentation arrive wrapped across lines and with Markdown escapes
(``\\_``); both are tolerated. Anything else that is not base64url is refused.
"""

from __future__ import annotations

import binascii
import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from adapters import schema_registry as schemas
from adapters.claims import check_claims, event_from_claims
from adapters.errors import Reason, Rejection
from adapters.jsontext import DIGIT_CLASS, LONG_DIGITS, refuse_constant
from adapters.unified import Delivery, UnifiedEvent

# A real token is 1-2 KB; anything this large is hostile or not a token.
MAX_TOKEN_CHARS = 64 * 1024

_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
# For the clean-token fast path: '-' and '_' become the standard alphabet, while '+', '/' and '='
# (base64 but not unpadded base64url) become '!', which strict decoding refuses. One pass thus
# both converts a segment and screens it, where the general path needs a regex pass as well.
_URL_TO_STD_SCREENED = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"===", b"==", b"=")  # by len(segment) % 4, as "=" * (-len % 4) would give

_WHITESPACE = re.compile(r"\s")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SEGMENTS = ("header", "claims", "signature")


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:  # pragma: no cover - depends on what is installed
        return None


# Optional SIMD base64: decoding is the largest cost of verifying a token (bench/verify.py).
# Imported by name so that type checking works whether it is installed or not.
_pybase64 = _optional("pybase64")


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
    token = _parse_clean(text)
    return token if token is not None else _parse_general(text)


# Frozen dataclasses build instances through object.__setattr__, once per field: a measurable
# share of verifying a token (see bench/verify.py). The fast path sets the slots directly.
_new_instance = object.__new__
_set_header: Any = ParsedToken.__dict__["header"].__set__
_set_claims: Any = ParsedToken.__dict__["claims"].__set__
_set_signing_input: Any = ParsedToken.__dict__["signing_input"].__set__
_set_signature: Any = ParsedToken.__dict__["signature"].__set__


# Claims with a run of 19 digits are read by the stdlib, keeping big integers exact (see
# adapters.jsontext.LONG_DIGITS): about 2% of verifying a token (bench/verify.py); a real token's
# claims never have such a run.


def _load_claims(
    raw_claims: bytes,
    _fast: Callable[[bytes], Any] = orjson.loads,
    _digits: bytes = DIGIT_CLASS,
    _run: bytes = LONG_DIGITS,
) -> Any:
    """The claims JSON, for both paths: a change to how claims are read applies to both.

    Raises ``ValueError`` for what is not JSON. Integers are exact, whatever their size; the
    exact path refuses what orjson refuses (``NaN``, lone surrogates) and keeps the last of
    duplicate names, as orjson does.
    """
    if raw_claims.translate(_digits).find(_run) < 0:  # defaults: no global look-ups per token
        return _fast(raw_claims)
    text = raw_claims.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        claims = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    if "\\u" in text:
        try:  # a lone surrogate decodes, but nothing can write it out again
            json.dumps(claims, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a \\u escape encodes a lone surrogate") from None
    return claims


def _decode_clean_stdlib(raw: bytes, first: int, second: int) -> tuple[bytes, bytes]:
    """Claims and signature bytes of a token split at ``first`` and ``second`` (its dots).

    Raises ``ValueError`` unless both segments are unpadded base64url.
    """
    translated = raw.translate(_URL_TO_STD_SCREENED)  # one pass; the header is not used here
    claims = translated[first + 1 : second]
    signature = translated[second + 1 :]
    return (
        binascii.a2b_base64(claims + _PADDING[len(claims) & 3], strict_mode=True),
        binascii.a2b_base64(signature + _PADDING[len(signature) & 3], strict_mode=True),
    )


def _decode_clean_simd(raw: bytes, first: int, second: int) -> tuple[bytes, bytes]:
    """As :func:`_decode_clean_stdlib`, with pybase64 (about three times faster)."""
    # pybase64 takes "-_" as well as "+/", and "=" we did not add: those are screened here.
    if b"+" in raw or b"/" in raw or b"=" in raw:
        raise ValueError("base64, not base64url")
    claims = raw[first + 1 : second]
    signature = raw[second + 1 :]
    decode = _pybase64.b64decode
    return (
        decode(claims + _PADDING[len(claims) & 3], altchars=b"-_", validate=True),
        decode(signature + _PADDING[len(signature) & 3], altchars=b"-_", validate=True),
    )


_decode_clean: Callable[[bytes, int, int], tuple[bytes, bytes]] = (
    _decode_clean_stdlib if _pybase64 is None else _decode_clean_simd
)


def _parse_clean(text: str) -> ParsedToken | None:
    """Decode a clean token (no wrapping, no escapes, all valid) in as few passes as possible.

    Returns ``None`` for anything else, and :func:`_parse_general` then decodes it or refuses it
    with its precise message: the result never depends on which path ran.
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    first = raw.find(b".")
    second = raw.find(b".", first + 1)
    if second < 0 or raw.find(b".", second + 1) >= 0:
        return None
    try:
        raw_claims, signature = _decode_clean(raw, first, second)
        header = _decode_header(text[:first])
        claims = _load_claims(raw_claims)
    except (ValueError, Rejection):  # binascii.Error and orjson's errors are ValueErrors
        return None
    if claims.__class__ is not dict:
        return None
    token: ParsedToken = _new_instance(ParsedToken)
    _set_header(token, dict(header))  # a copy: callers may not mutate the cache
    _set_claims(token, claims)
    _set_signing_input(token, raw[:second])
    _set_signature(token, signature)
    return token


def _parse_general(text: str) -> ParsedToken:
    """Any text: cleans what documentation copies do to tokens, names the first problem found."""
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
        claims = _load_claims(raw_claims)
    except ValueError as exc:  # orjson.JSONDecodeError is one
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
