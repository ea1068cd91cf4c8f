"""JSON encoding: the one orjson-or-stdlib helper every writer of JSON text uses.

orjson is fast but refuses integers beyond 64 bits and nesting deeper than it writes; the
stdlib writes those (compact, the same separators). Readers refuse ``NaN`` and lone surrogates,
so neither reaches here; the stdlib is told to refuse ``NaN`` too.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

# orjson reads integers beyond 64 bits as floats, silently. Every such integer has a run of at
# least 19 digits (-9223372036854775809 is the shortest), so a text with such a run is read by
# the stdlib, which keeps integers exact. Finding the run is one C-speed translate:
# ``LONG_DIGITS in data.translate(DIGIT_CLASS)``. One definition for every reader (token claims,
# NDJSON lines, documents): two copies of it once disagreed by one digit.
DIGIT_CLASS: Final = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
LONG_DIGITS: Final = b"0" * 19


def refuse_constant(name: str) -> Any:
    """``parse_constant`` for the stdlib parser: ``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not JSON")


def json_bytes(value: Any, *, sort_keys: bool = False, ascii_fallback: bool = False) -> bytes:
    """``value`` as compact JSON bytes (UTF-8).

    ``ascii_fallback``: the stdlib fallback escapes non-ASCII characters (what v2 event ids have
    always been computed from; kept so that no id changes). Raises ``RecursionError`` for a
    value nested too deeply for either encoder, ``ValueError`` for ``NaN``.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:  # integers beyond 64 bits, or nested deeper than orjson writes
        pass
    text = json.dumps(
        value,
        ensure_ascii=ascii_fallback,
        sort_keys=sort_keys,
        allow_nan=False,
        separators=(",", ":"),
        default=dict,
    )
    return text.encode()


def json_text(value: Any) -> str:
    """``value`` as compact JSON text (see :func:`json_bytes`): the store's JSON columns."""
    return json_bytes(value).decode()
