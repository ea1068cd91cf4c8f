"""Line-delimited inputs: splitting lines at C speed (BOM, CRLF, oversized lines never held),
NDJSON records, and compact tokens one per line or wrapped over several."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import IO, Final

import orjson

from adapters.jsontext import DIGIT_CLASS, LONG_DIGITS
from migrate.readers.jsonpolicy import (
    json_rejection,
    parse_json_bytes,
    too_large,
)
from migrate.readers.opening import input_failure
from migrate.readers.record import DEFAULT_MAX_RECORD_BYTES, RAW_KEEP_BYTES, Record, display_name

READ_SIZE: Final = 1 << 20
BOM: Final = b"\xef\xbb\xbf"
NBSP: Final = "\u00a0".encode()


def iter_lines(stream: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """``(line_number, content_without_eol, too_large)`` for every line, blank ones included.

    Reads 1 MiB at a time and splits at C speed. A line longer than ``max_bytes`` is never held:
    only its first ``RAW_KEEP_BYTES`` are kept, and its size is counted as it streams past.
    """
    number = 0
    carry = b""  # the unfinished line at the end of the previous chunk
    over = False  # the unfinished line is already too large: only counting it
    kept = b""
    size = 0
    head = b""
    while chunk := stream.read(READ_SIZE):
        if len(head) < len(BOM):  # a leading BOM may arrive split over tiny reads
            head += chunk
            if len(head) < len(BOM) and BOM.startswith(head):
                continue
            chunk = head[len(BOM) :] if head.startswith(BOM) else head
            head = BOM  # done: never look again
        pieces = chunk.split(b"\n")
        tail = pieces.pop()
        for index, piece in enumerate(pieces):
            number += 1
            if index == 0 and over:
                size += len(piece)
                kept += piece[: RAW_KEEP_BYTES - len(kept)]
                yield number, kept + f"... [{size} bytes in all]".encode(), True
                over, kept, size = False, b"", 0
                continue
            line = carry + piece if index == 0 and carry else piece
            if index == 0:
                carry = b""
            if len(line) - line.endswith(b"\r") > max_bytes:  # the limit is on the content
                yield (
                    number,
                    line[:RAW_KEEP_BYTES] + f"... [{len(line)} bytes in all]".encode(),
                    True,
                )
            else:
                yield number, line[:-1] if line.endswith(b"\r") else line, False
        if over:
            size += len(tail)
            kept += tail[: RAW_KEEP_BYTES - len(kept)]
        else:
            carry = carry + tail if not pieces else tail
            if len(carry) > max_bytes + 1:  # + 1: it may end with the \r of a CRLF
                over, kept, size, carry = True, carry[:RAW_KEEP_BYTES], len(carry), b""
    if head and not head.startswith(BOM) and len(head) < len(BOM):
        carry = head  # a file shorter than a BOM that starts like one
    if over or len(carry) - carry.endswith(b"\r") > max_bytes:
        kept, size = (kept, size) if over else (carry[:RAW_KEEP_BYTES], len(carry))
        yield number + 1, kept + f"... [{size} bytes in all]".encode(), True
    elif carry:
        yield number + 1, carry[:-1] if carry.endswith(b"\r") else carry, False


def read_ndjson(
    path: str,
    stream: IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[Record]:
    """One JSON value per non-blank line.

    ``wanted(line)``, if given, is asked before each line's record is parsed; a record not
    wanted is still yielded (its line counts) but not parsed: no ``value``, no ``error``.
    """
    name = display_name(path)
    loads = orjson.loads
    number = 0
    for number, content, oversized in iter_lines(stream, max_bytes):
        if oversized:
            yield Record(name, number, content, error=too_large(max_bytes))
            continue
        if wanted is not None and not wanted(number):
            if content and not content.isspace():  # a blank line is no record
                yield Record(name, number, content)
            continue
        try:
            if LONG_DIGITS in content.translate(DIGIT_CLASS):
                raise ValueError("orjson would read a big integer as a float")
            value = loads(content)  # the hot path: one C call per line
        except ValueError:  # orjson.JSONDecodeError is one
            if not content or content.isspace():
                continue
            try:
                value = parse_json_bytes(content)
            except (ValueError, UnicodeDecodeError) as exc:
                yield Record(name, number, content, error=json_rejection(content, exc, max_bytes))
                continue
        yield Record(name, number, content, value)
    yield from input_failure(path, stream, number + 1)


def read_tokens(
    path: str, stream: IO[bytes], *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[Record]:
    """Compact tokens, one per line, or wrapped over several lines.

    A token ends at a blank line, or where the next line starts a new JOSE header (``eyJ``,
    base64url of ``{"``) when the token already has its three segments or that line holds a dot
    of its own (a whole token on one line: a broken token before it must not swallow it). A
    complete token (three segments, its signature as long as its ``alg`` makes one) is not
    extended with the next line, unless that makes it complete again (a longer key's signature
    wrapped there). A line that does not start a token (no ``eyJ``) is a record of its own,
    unless it holds a dot: then it is a token whose start was cut off (the docs print some so),
    and takes the lines after it that are token text. Every non-blank line is accounted for.
    (A token whose signature has a length no algorithm makes, such as the docs' truncated
    sample, still takes the lines up to the next blank line or token.) Non-breaking spaces
    around a line (text copied from a web page) count as spaces.
    """
    name = display_name(path)
    parts: list[bytes] = []
    start = 0
    size = 0
    dots = 0
    number = 0

    def flush() -> Iterator[Record]:
        raw = b"\n".join(parts)
        if size > max_bytes:  # parts stopped growing at the limit: only the start was kept
            yield Record(name, start, raw[:RAW_KEEP_BYTES], error=too_large(max_bytes))
            return
        try:
            yield Record(name, start, raw, raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Record(name, start, raw, error=json_rejection(raw, exc, max_bytes))

    for number, content, oversized in iter_lines(stream, max_bytes):
        stripped = content.strip()
        if NBSP in stripped:
            text = stripped.decode("utf-8", "surrogateescape").strip()  # NBSP is whitespace
            stripped = text.encode("utf-8", "surrogateescape")
        if oversized:
            if parts:
                yield from flush()
                parts, size, dots = [], 0, 0
            yield Record(name, number, content, error=too_large(max_bytes))
            continue
        if not stripped:
            if parts:
                yield from flush()
                parts, size, dots = [], 0, 0
            continue
        if parts and (
            # Not a token's start: a line of its own, unless it holds a dot (a token whose
            # start was cut off, as in the docs), which takes the lines of its other segments.
            (not parts[0].startswith(b"eyJ") and (not dots or not _fragment(stripped)))
            or (stripped.startswith(b"eyJ") and (dots >= 2 or b"." in stripped))
            or (dots >= 2 and _complete(parts) and not _complete([*parts, stripped]))
        ):
            yield from flush()
            parts, size, dots = [], 0, 0
        if not parts:
            start = number
        if size <= max_bytes:  # beyond the limit the token is only counted, not held
            parts.append(stripped)
        size += len(stripped)
        dots += stripped.count(b".")
    if parts:
        yield from flush()
    yield from input_failure(path, stream, number + 1)


# Characters of a base64url signature (no padding) for each ``alg``: RSA for 2048, 3072 and
# 4096-bit keys; ECDSA's two coordinates; an HMAC's digest; EdDSA's 64 bytes; none.
_RSA_SIGNATURE_CHARS: Final = frozenset((342, 512, 683))
_SIGNATURE_CHARS: Final[dict[str, frozenset[int]]] = {
    **{
        f"{family}{bits}": _RSA_SIGNATURE_CHARS
        for family in ("RS", "PS")
        for bits in (256, 384, 512)
    },
    "ES256": frozenset((86,)),
    "ES384": frozenset((128,)),
    "ES512": frozenset((176,)),
    "HS256": frozenset((43,)),
    "HS384": frozenset((64,)),
    "HS512": frozenset((86,)),
    "EdDSA": frozenset((86,)),
    "none": frozenset((0,)),
}


_TOKEN_TEXT: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.\\ \t"
)


def _fragment(line: bytes) -> bool:
    """Whether a (stripped) line is only token text: base64url, dots, ``\\_`` escapes, and
    the spaces a copy from a document leaves in (cleaned away with the rest)."""
    return _TOKEN_TEXT.issuperset(line)


def _cleaned(text: bytes) -> bytes:
    """A token's text without ``\\_`` escapes and whitespace (see ``clean_compact``)."""
    if b"\\" in text:
        text = text.replace(b"\\_", b"_")
    return b"".join(text.split())


def _complete(parts: list[bytes]) -> bool:
    """Whether the lines ``parts`` hold a whole compact token: three segments, a header naming
    a known ``alg``, and a signature exactly as long as that algorithm makes one.

    Only asked when a line would be added to a token that already has three segments.
    """
    segments = _cleaned(b"".join(parts)).split(b".")
    if len(segments) != 3:
        return False
    header = segments[0]
    try:
        decoded = base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4))
        alg = orjson.loads(decoded).get("alg")
    except (ValueError, AttributeError, binascii.Error):
        return False
    lengths = _SIGNATURE_CHARS.get(alg) if isinstance(alg, str) else None
    return lengths is not None and len(segments[2]) in lengths
