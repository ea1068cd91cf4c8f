"""The JSON parsing policy: orjson where it is exact, the stdlib where orjson would lose or
refuse something (integers beyond 64 bits), no ``NaN``, no lone surrogates; and the rejection
(reason and message) for text that is not a JSON record."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

from adapters.errors import Reason, Rejection
from adapters.jsontext import DIGIT_CLASS, LONG_DIGITS, refuse_constant
from migrate.readers.record import RAW_KEEP_BYTES

# JSON text that ends early: what a parser is left with when a line or a file is cut short.
_CUT_SHORT: Final = re.compile(
    r"|-|\.[0-9]*|[eE][+-]?|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?"
)
_CUT_ESCAPE: Final = re.compile(r"u[0-9a-fA-F]{0,4}(?:\\(?:u[0-9a-fA-F]{0,3})?)?")


class NotUnicode(ValueError):
    """JSON text whose ``\\u`` escapes encode a lone surrogate: valid syntax, but not Unicode."""


def might_lose_digits(data: bytes) -> bool:
    """Whether orjson could turn an integer in ``data`` into a float (see ``DIGIT_CLASS``)."""
    return LONG_DIGITS in data.translate(DIGIT_CLASS)


def parse_json_bytes(data: bytes) -> Any:
    """Parse one JSON text: orjson, or the stdlib where orjson would lose or refuse something.

    The stdlib keeps integers beyond 64 bits and gives the messages users see; its own
    extensions (``NaN``, ``Infinity``) are refused, as are lone surrogates (``"\\ud800"``), which
    nothing could write out again, and nesting too deep to handle.
    """
    if not might_lose_digits(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    text = data.decode("utf-8")  # UnicodeDecodeError is the caller's "encoding" case
    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    if "\\u" in text:
        check_unicode(value)
    return value


def check_unicode(value: Any) -> None:
    """Raise :class:`NotUnicode` if a string in ``value`` holds a lone surrogate."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise NotUnicode("a \\u escape encodes a lone surrogate, which is not Unicode") from None
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def ends_early(exc: json.JSONDecodeError) -> bool:
    """Whether the text ``exc`` was raised for is valid JSON cut short (not JSON gone wrong)."""
    rest = exc.doc[exc.pos :].rstrip()
    if exc.msg.startswith("Unterminated string"):
        return True
    if exc.msg.startswith("Invalid \\uXXXX escape"):
        return _CUT_ESCAPE.fullmatch(rest) is not None
    return exc.msg.startswith("Expecting") and _CUT_SHORT.fullmatch(rest) is not None


def _where(exc: json.JSONDecodeError) -> str:
    # "Unterminated string starting at" already ends in "at".
    return f"{exc.msg.removesuffix(' at')} at column {exc.colno}"


def json_rejection(data: bytes, exc: Exception, max_bytes: int) -> Rejection:
    if isinstance(exc, UnicodeDecodeError):
        if exc.reason == "unexpected end of data" and exc.end >= len(data):
            return Rejection(
                Reason.TRUNCATED,
                "",
                f"ends early, inside a UTF-8 character at column {exc.start + 1}",
            )
        return Rejection(
            Reason.ENCODING,
            "",
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {exc.start + 1}",
        )
    if isinstance(exc, NotUnicode):
        return Rejection(Reason.ENCODING, "", str(exc))
    if isinstance(exc, json.JSONDecodeError):
        if ends_early(exc):
            return Rejection(Reason.TRUNCATED, "", f"JSON ends early: {_where(exc)}")
        return Rejection(Reason.MALFORMED_JSON, "", _where(exc))
    return Rejection(Reason.MALFORMED_JSON, "", str(exc))


def too_large(max_bytes: int) -> Rejection:
    return Rejection(
        Reason.TOO_LARGE,
        "",
        f"record is larger than the {max_bytes}-byte limit (--max-record-bytes); only its "
        f"first {RAW_KEEP_BYTES:,} bytes are kept",
    )
