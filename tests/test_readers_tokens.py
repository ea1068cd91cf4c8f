"""Re-joining wrapped tokens never swallows a line: a complete token is never extended with the
line after it, and every non-blank line is accounted for (issue 12, item 6)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import HEADER_ALG_KID, compact, v3_claims, wrapped

from adapters.errors import Rejection
from migrate.kinds import converter
from migrate.readers import read_tokens

FIXTURES = Path(__file__).parent / "fixtures"
SEED_EXPORT = json.loads((FIXTURES / "seed-export-line.ndjson").read_text("utf-8"))
RSA_2048 = b"\x07" * 256  # an RS256 signature's length for a 2048-bit key
CONVERT = converter("set")


def outcomes(text: str) -> list[tuple[int, str]]:
    """``(first line, "ok" or the rejection's reason)`` of every record read from ``text``."""
    found = []
    for record in read_tokens("t", io.BytesIO(text.encode())):
        if record.error is not None:
            found.append((record.line, record.error.reason))
            continue
        try:
            event = CONVERT(record.value)
        except Rejection as exc:
            found.append((record.line, exc.reason))
        else:
            found.append((record.line, event.event_id))
    return found


def test_a_garbage_line_between_two_tokens_is_a_record_of_its_own() -> None:
    first = compact(HEADER_ALG_KID, {**SEED_EXPORT, "jti": "first"}, RSA_2048)
    last = compact(HEADER_ALG_KID, {**SEED_EXPORT, "jti": "last"}, RSA_2048)
    assert outcomes(f"{first}\ngarbage\n{last}\n") == [(1, "first"), (2, "bad_token"), (3, "last")]
    # Also after a token wrapped as the docs print it (escapes, trailing spaces), twice garbage.
    pieces = [first[i : i + 64] for i in range(0, len(first), 64)]
    wrapped_first = "  \n".join(pieces).replace("_", "\\_")
    text = f"{wrapped_first}\ngarbage\nmore garbage\n{last}\n"
    n = len(pieces)
    assert outcomes(text) == [
        (1, "first"),
        (n + 1, "bad_token"),
        (n + 2, "bad_token"),
        (n + 3, "last"),
    ]


GARBAGE = st.text(
    # No dot: a line with one that starts no token is taken as a token whose start was cut off.
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!{} ",
    min_size=1,
    max_size=40,
).filter(lambda s: bool(s.strip()) and not s.strip().startswith("eyJ"))


@st.composite
def token_texts(draw: st.DrawFn) -> tuple[str, str]:
    """``(jti, the token as a file holds it: on one line, or wrapped as the docs print it)``."""
    claims = draw(v3_claims())
    token = compact(HEADER_ALG_KID, claims, draw(st.binary(min_size=256, max_size=256)))
    text = draw(wrapped(token)) if draw(st.booleans()) else token
    return claims["jti"], text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(token_texts(), GARBAGE), min_size=1, max_size=8), st.data())
def test_every_token_parses_and_every_garbage_line_is_one_reject(
    items: list[Any], data: st.DataObject
) -> None:
    text, expected, line = "", [], 1
    for item in items:
        blank = "\n" * data.draw(st.integers(min_value=0, max_value=1))
        if isinstance(item, tuple):
            jti, token = item
            expected.append((line, jti))
            body = token
        else:
            expected.append((line, "bad_token"))
            body = item
        text += body + "\n" + blank
        line += body.count("\n") + 1 + blank.count("\n")
    assert outcomes(text) == expected
