"""Streaming readers: any size of input, constant memory, every record accounted for.

A reader yields :class:`Record` values: the parsed JSON (or token text) with the file and the line
it started on (counted from 1, as an editor does), or a reader-level :class:`Rejection`
(``malformed_json``, ``encoding``, ``too_large``, ``truncated``) for input that could not be read
as a record. Nothing is skipped silently except blank lines.

Layouts understood:
- NDJSON: one JSON value per line; CRLF and a leading UTF-8 BOM accepted.
- A JSON document spread over many lines (a pretty-printed v2 array, an events-store page): streamed
  element by element, never loaded whole.
- Tokens one per line, wrapped across lines as documentation does (``set``).
Files ending in ``.gz`` (or starting with the gzip magic) are decompressed; ``-`` is stdin.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

import orjson

from adapters.errors import Reason, Rejection, pointer_join

# Real records are 1-2 KB; this bounds memory under hostile input (a 10 MB "line").
DEFAULT_MAX_RECORD_BYTES: Final = 1024 * 1024
# How much of an oversized or broken record is kept for the rejects table.
RAW_KEEP_BYTES: Final = 4096
_CHUNK: Final = 1 << 16
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Record:
    """One input record: ``value`` when it parsed, else ``error``."""

    path: str
    line: int
    raw: bytes
    value: Any = None
    error: Rejection | None = None
    pointer: str = ""
    """Where the record sits in its line's document (``/3`` for a v2 array's fourth element)."""

    def raw_text(self) -> str:
        """The raw record as text for reports: invalid UTF-8 is shown as escapes, not lost."""
        text = self.raw[:RAW_KEEP_BYTES].decode("utf-8", errors="backslashreplace")
        if len(self.raw) > RAW_KEEP_BYTES:
            text += f"... [{len(self.raw) - RAW_KEEP_BYTES} more bytes]"
        return text


class CountingReader(io.RawIOBase):
    """Wraps a binary stream to count bytes consumed (progress) without buffering it all."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.consumed += n
        return n


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def open_binary(path: str) -> tuple[IO[bytes], CountingReader]:
    """Open ``path`` (or stdin for ``-``), transparently gunzipping.

    Returns the stream to read and the counter of bytes taken from the file (compressed side),
    which is what progress against the file's size needs.
    """
    raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    counter = CountingReader(raw)
    buffered = io.BufferedReader(counter, _CHUNK)
    if path.endswith(".gz") or buffered.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    return buffered, counter


def iter_lines(stream: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """``(line_number, content_without_eol, too_large)`` for every line, blank ones included.

    An oversized line is consumed in chunks and only its first ``RAW_KEEP_BYTES`` are kept.
    """
    number = 0
    readline = stream.readline
    while True:
        line = readline(max_bytes + 2)
        if not line:
            return
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if line.endswith(b"\n"):
            yield number, line.rstrip(b"\r\n"), False
            continue
        if len(line) <= max_bytes:  # the last line, without a newline
            yield number, line.rstrip(b"\r"), False
            return
        kept = line[:RAW_KEEP_BYTES]
        size = len(line)
        while not line.endswith(b"\n"):
            line = readline(_CHUNK)
            if not line:
                break
            size += len(line)
        yield number, kept + f"... [{size} bytes in all]".encode(), True


def parse_json_bytes(data: bytes) -> Any:
    """Parse one JSON text (fast), with stdlib messages and big-integer support as fallback."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8")  # UnicodeDecodeError is the caller's "encoding" case
        return json.loads(text)


def json_rejection(data: bytes, exc: Exception, max_bytes: int) -> Rejection:
    if isinstance(exc, UnicodeDecodeError):
        return Rejection(
            Reason.ENCODING,
            "",
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {exc.start + 1}",
        )
    if isinstance(exc, json.JSONDecodeError):
        if exc.pos >= len(exc.doc.rstrip()) and exc.msg.startswith(("Expecting", "Unterminated")):
            return Rejection(
                Reason.TRUNCATED, "", f"JSON ends early: {exc.msg} at column {exc.colno}"
            )
        return Rejection(Reason.MALFORMED_JSON, "", f"{exc.msg} at column {exc.colno}")
    return Rejection(Reason.MALFORMED_JSON, "", str(exc))


def too_large(max_bytes: int) -> Rejection:
    return Rejection(
        Reason.TOO_LARGE,
        "",
        f"record is larger than the {max_bytes}-byte limit (--max-record-bytes)",
    )


def read_ndjson(
    path: str, stream: IO[bytes], *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[Record]:
    """One JSON value per non-blank line."""
    name = display_name(path)
    for number, content, oversized in iter_lines(stream, max_bytes):
        if oversized:
            yield Record(name, number, content, error=too_large(max_bytes))
            continue
        if not content.strip():
            continue
        try:
            value = parse_json_bytes(content)
        except (ValueError, UnicodeDecodeError) as exc:
            yield Record(name, number, content, error=json_rejection(content, exc, max_bytes))
            continue
        yield Record(name, number, content, value)


def read_tokens(
    path: str, stream: IO[bytes], *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[Record]:
    """Compact tokens, one per line, or wrapped over several lines.

    A token ends at a blank line, or when it already has its three segments and the next line
    starts a new JOSE header (``eyJ``, base64url of ``{"``).
    """
    name = display_name(path)
    parts: list[bytes] = []
    start = 0
    size = 0

    def flush() -> Iterator[Record]:
        raw = b"\n".join(parts)
        if size > max_bytes:
            yield Record(name, start, raw[:RAW_KEEP_BYTES], error=too_large(max_bytes))
            return
        try:
            yield Record(name, start, raw, raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Record(name, start, raw, error=json_rejection(raw, exc, max_bytes))

    for number, content, oversized in iter_lines(stream, max_bytes):
        stripped = content.strip()
        if oversized:
            if parts:
                yield from flush()
                parts, size = [], 0
            yield Record(name, number, content, error=too_large(max_bytes))
            continue
        if not stripped:
            if parts:
                yield from flush()
                parts, size = [], 0
            continue
        if parts and stripped.startswith(b"eyJ") and b"".join(parts).count(b".") >= 2:
            yield from flush()
            parts, size = [], 0
        if not parts:
            start = number
        parts.append(stripped)
        size += len(stripped)
    if parts:
        yield from flush()


class _JSONStream:
    """Incremental reader of JSON text that may be far larger than memory.

    It never holds more than one record (plus a read chunk) at a time: values are decoded one at a
    time with ``raw_decode`` from a sliding text buffer, and line numbers are kept as it goes.
    """

    def __init__(self, stream: IO[bytes], max_bytes: int) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.max_bytes = max_bytes
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end), counting newlines skipped."""
        while True:
            buf, pos = self.buf, self.pos
            end = len(buf)
            while pos < end and buf[pos] in " \t\r\n":
                if buf[pos] == "\n":
                    self.line += 1
                pos += 1
            self.pos = pos
            if pos < end:
                return buf[pos]
            if not self._fill():
                return ""

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise json.JSONDecodeError(f"Expecting {char!r}", self.buf, self.pos)
        self.pos += 1

    def value(self) -> tuple[Any, int, str]:
        """Decode the next value: ``(value, start_line, raw_text)``."""
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Might only be the end of the buffer: read more unless the record is too big.
                if len(self.buf) - self.pos > self.max_bytes:
                    raise _TooLarge from None
                if self._fill():
                    continue
                raise exc from None
            if end == len(self.buf) and self._fill():
                continue  # a number at the buffer's end may go on in the next chunk
            raw = self.buf[self.pos : end]
            start = self.line
            self.line += raw.count("\n")
            self.pos = end
            return value, start, raw


class _TooLarge(Exception):
    pass


def read_json_document(
    path: str,
    stream: IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    embedded: bool = False,
) -> Iterator[Record]:
    """Stream the records of JSON text that is not one-value-per-line.

    Top-level arrays yield their elements; objects yield themselves, except that with
    ``embedded`` an object holding ``_embedded`` (an events-store page) yields the elements of the
    arrays inside it. Several top-level values may follow each other. A syntax error ends the
    stream with one ``malformed_json``/``truncated`` record naming the line: what follows a broken
    document cannot be read reliably, and the count says so.
    """
    name = display_name(path)
    reader = _JSONStream(stream, max_bytes)
    try:
        while reader.peek():
            if reader.peek() == "[":
                yield from _stream_array(reader, name, "")
            elif embedded and reader.peek() == "{":
                yield from _stream_object(reader, name)
            else:
                value, line, raw = reader.value()
                yield Record(name, line, raw.encode(), value)
    except _TooLarge:
        yield Record(
            name,
            reader.line,
            reader.buf[reader.pos : reader.pos + RAW_KEEP_BYTES].encode(),
            error=too_large(max_bytes),
        )
    except UnicodeDecodeError as exc:
        yield Record(
            name,
            reader.line,
            b"",
            error=Rejection(
                Reason.ENCODING, "", f"not UTF-8 near line {reader.line}: {exc.reason}"
            ),
        )
    except json.JSONDecodeError as exc:
        line = reader.line + reader.buf.count("\n", reader.pos, exc.pos)
        reason = (
            Reason.TRUNCATED
            if reader.eof and exc.pos >= len(reader.buf.rstrip())
            else Reason.MALFORMED_JSON
        )
        rest = reader.buf[reader.pos : reader.pos + RAW_KEEP_BYTES]
        yield Record(
            name,
            line,
            rest.encode(),
            error=Rejection(reason, "", f"{exc.msg}; the rest of the file cannot be read"),
        )


def _stream_array(reader: _JSONStream, name: str, prefix: str) -> Iterator[Record]:
    reader.take("[")
    index = 0
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        value, line, raw = reader.value()
        yield Record(name, line, raw.encode(), value, pointer=prefix + pointer_join(index))
        index += 1
        nxt = reader.peek()
        if nxt == ",":
            reader.pos += 1
            continue
        reader.take("]")
        return


def _stream_object(reader: _JSONStream, name: str) -> Iterator[Record]:
    """An events-store page (stream ``_embedded`` arrays) or a single record object."""
    start_line = reader.line
    reader.take("{")
    members: dict[str, Any] = {}
    saw_embedded = False
    raw_parts: list[str] = []
    while reader.peek() != "}":
        if members or saw_embedded:
            reader.take(",")
        key, _, _ = reader.value()
        if not isinstance(key, str):
            raise json.JSONDecodeError("Expecting property name", reader.buf, reader.pos)
        reader.take(":")
        if key == "_embedded" and reader.peek() == "{":
            saw_embedded = True
            yield from _stream_embedded(reader, name)
            continue
        value, _, raw = reader.value()
        members[key] = value
        raw_parts.append(f"{json.dumps(key)}:{raw}")
    reader.pos += 1
    if not saw_embedded:
        yield Record(name, start_line, ("{" + ",".join(raw_parts) + "}").encode(), members)


def _stream_embedded(reader: _JSONStream, name: str) -> Iterator[Record]:
    reader.take("{")
    first = True
    while reader.peek() != "}":
        if not first:
            reader.take(",")
        first = False
        key, _, _ = reader.value()
        reader.take(":")
        if reader.peek() == "[":
            yield from _stream_array(reader, name, pointer_join("_embedded", key))
        else:
            reader.value()  # counts or links inside _embedded are not records
    reader.pos += 1


def _looks_line_delimited(stream: IO[bytes], max_bytes: int) -> bool:
    """True when the first non-blank line is a whole JSON value (NDJSON), by peeking only."""
    peek = getattr(stream, "peek", None)
    if peek is None:  # not seekable nor peekable: stream it as JSON text, which reads both
        return False
    head: bytes = peek(min(max_bytes, 1 << 20))
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    for line in head.split(b"\n"):
        if line.strip():
            try:
                parse_json_bytes(line)
            except (ValueError, UnicodeDecodeError):
                return False
            return True
    return True


def read_json_records(
    path: str,
    stream: IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    embedded: bool = False,
) -> Iterator[Record]:
    """v2 and events-store input: NDJSON when the first line is whole JSON, else streamed JSON.

    In NDJSON, a line holding an array yields the array's elements (v2 callbacks are arrays).
    """
    if _looks_line_delimited(stream, max_bytes):
        for record in read_ndjson(path, stream, max_bytes=max_bytes):
            value = record.value
            if record.error is None and isinstance(value, list):
                for index, item in enumerate(value):
                    yield Record(
                        record.path, record.line, record.raw, item, pointer=pointer_join(index)
                    )
            elif (
                record.error is None
                and embedded
                and isinstance(value, dict)
                and "_embedded" in value
            ):
                yield from _embedded_records(record)
            else:
                yield record
    else:
        yield from read_json_document(path, stream, max_bytes=max_bytes, embedded=embedded)


def _embedded_records(page: Record) -> Iterator[Record]:
    embedded = page.value["_embedded"]
    if not isinstance(embedded, dict):
        yield Record(
            page.path,
            page.line,
            page.raw,
            error=Rejection(Reason.SCHEMA, "/_embedded", "_embedded is not an object"),
        )
        return
    for key, items in embedded.items():
        if isinstance(items, list):
            for index, item in enumerate(items):
                yield Record(
                    page.path,
                    page.line,
                    page.raw,
                    item,
                    pointer=pointer_join("_embedded", key, index),
                )
