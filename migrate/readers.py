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

import codecs
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

import orjson

from adapters.errors import Reason, Rejection, pointer_join

# Real records are 1-2 KB; this bounds memory under hostile input (a 10 MB "line").
DEFAULT_MAX_RECORD_BYTES: Final = 1024 * 1024
# How much of an oversized or broken record is kept for the rejects table.
RAW_KEEP_BYTES: Final = 4096
_CHUNK: Final = 1 << 16
_READ: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"
_NBSP: Final = "\u00a0".encode()


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
        """The raw record as text for reports: invalid UTF-8 is shown as escapes, not lost.

        Whole: the readers already cut what is too large to hold (to ``RAW_KEEP_BYTES``), and a
        record that was held is kept in full so that a rejects file can be fixed and replayed.
        """
        # U+0000 cannot be stored in PostgreSQL text; it is shown escaped like other unprintables.
        return self.raw.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


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

    def close(self) -> None:
        # Closing the reader closes the file it wraps (GzipFile never closes its fileobj);
        # stdin is left open for whoever reads it next.
        if not self.closed and self.inner is not sys.stdin.buffer:
            self.inner.close()
        super().close()


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
        return _Gunzip(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    return buffered, counter


class _Gunzip(gzip.GzipFile):
    """gzip whose damaged or cut-short data (a partial download) ends the input as a rejection.

    The stream then reads as ended; the readers turn ``failure`` into a last record, so what was
    read before the damage still converts and the damage is counted, not raised mid-file.
    """

    failure: Rejection | None = None

    def _guarded(self, call: Any, size: int) -> bytes:
        if self.failure is not None:
            return b""
        try:
            data: bytes = call(size)
        except EOFError as exc:
            self.failure = Rejection(Reason.TRUNCATED, "", f"the file is incomplete: {exc}")
        except (gzip.BadGzipFile, zlib.error) as exc:
            self.failure = Rejection(Reason.ENCODING, "", f"not valid gzip data: {exc}")
        else:
            return data
        return b""

    def read(self, size: int | None = -1) -> bytes:
        # Piece by piece: GzipFile.read drops what it decompressed in a call that then fails.
        pieces: list[bytes] = []
        wanted = -1 if size is None or size < 0 else size
        while wanted:
            piece = self.read1(wanted)
            if not piece:
                break
            pieces.append(piece)
            wanted = wanted - len(piece) if wanted > 0 else -1
        return b"".join(pieces)

    def read1(self, size: int = -1) -> bytes:
        return self._guarded(super().read1, size)

    def peek(self, n: int) -> bytes:
        return self._guarded(super().peek, n)


def input_failure(path: str, stream: IO[bytes], line: int) -> Iterator[Record]:
    """The record for input that broke off (see :class:`_Gunzip`), if it did."""
    failure = getattr(stream, "failure", None)
    if failure is not None:
        yield Record(display_name(path), line, b"", error=failure)


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
    while chunk := stream.read(_READ):
        if len(head) < len(_BOM):  # a leading BOM may arrive split over tiny reads
            head += chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                continue
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
            head = _BOM  # done: never look again
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
    if head and not head.startswith(_BOM) and len(head) < len(_BOM):
        carry = head  # a file shorter than a BOM that starts like one
    if over or len(carry) - carry.endswith(b"\r") > max_bytes:
        kept, size = (kept, size) if over else (carry[:RAW_KEEP_BYTES], len(carry))
        yield number + 1, kept + f"... [{size} bytes in all]".encode(), True
    elif carry:
        yield number + 1, carry[:-1] if carry.endswith(b"\r") else carry, False


# orjson reads integers beyond 64 bits as floats, silently: a text with a run of 19 digits (which
# every such integer has: -9223372036854775809 is the shortest) is parsed by the stdlib instead.
# Finding the run costs one C-speed translate, a fraction of the parse it guards.
_DIGIT_CLASS: Final = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS: Final = b"0" * 19
# JSON text that ends early: what a parser is left with when a line or a file is cut short.
_CUT_SHORT: Final = re.compile(
    r"|-|\.[0-9]*|[eE][+-]?|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?"
)
_CUT_ESCAPE: Final = re.compile(r"u[0-9a-fA-F]{0,4}(?:\\(?:u[0-9a-fA-F]{0,3})?)?")


class NotUnicode(ValueError):
    """JSON text whose ``\\u`` escapes encode a lone surrogate: valid syntax, but not Unicode."""


def might_lose_digits(data: bytes) -> bool:
    """Whether orjson could turn an integer in ``data`` into a float (see ``_DIGIT_CLASS``)."""
    return _LONG_DIGITS in data.translate(_DIGIT_CLASS)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


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
        value = json.loads(text, parse_constant=_refuse_constant)
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
        f"record is larger than the {max_bytes}-byte limit (--max-record-bytes)",
    )


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
            if _LONG_DIGITS in content.translate(_DIGIT_CLASS):
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
    of its own (a whole token on one line: a broken token before it must not swallow it).
    Non-breaking spaces around a line (text copied from a web page) count as spaces.
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
        if _NBSP in stripped:
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
        if parts and stripped.startswith(b"eyJ") and (dots >= 2 or b"." in stripped):
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


class _JSONStream:
    """Incremental reader of JSON text that may be far larger than memory.

    It never holds more than one record (plus a read chunk) at a time: values are decoded one at a
    time with ``raw_decode`` from a sliding text buffer, and line numbers are kept as it goes.
    """

    def __init__(self, stream: IO[bytes], max_bytes: int) -> None:
        self.stream = stream
        self.decode = codecs.getincrementaldecoder("utf-8-sig")("strict").decode
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.max_bytes = max_bytes
        self.decoder = json.JSONDecoder(parse_constant=_refuse_constant)

    def _fill(self) -> bool:
        while not self.eof:
            data = self.stream.read(_CHUNK)
            try:
                chunk = self.decode(data, not data)
            except UnicodeDecodeError as exc:
                # exc.object is this read (after any bytes of a character begun in the last one).
                bad = exc.object
                raise _NotUTF8(
                    self.line + self.buf.count("\n", self.pos) + bad.count(b"\n", 0, exc.start),
                    bad[bad.rfind(b"\n", 0, exc.start) + 1 :][:RAW_KEEP_BYTES],
                    f"not UTF-8: byte 0x{bad[exc.start]:02x}",
                ) from None
            self.eof = not data
            if chunk:
                self.buf = self.buf[self.pos :] + chunk
                self.pos = 0
                return True
        return False

    def skip_line(self) -> bool:
        """Discard up to the next line (never holding more than a chunk); False at the end."""
        while True:
            newline = self.buf.find("\n", self.pos)
            if newline >= 0:
                self.pos = newline + 1
                self.line += 1
                return True
            self.pos = len(self.buf)
            if not self._fill():
                return False

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
            except (ValueError, RecursionError) as exc:
                if not isinstance(exc, json.JSONDecodeError):  # NaN, or nested a thousand deep
                    message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                    raise json.JSONDecodeError(message, self.buf, self.pos) from None
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
            if "\\u" in raw:
                try:
                    check_unicode(value)
                except ValueError as exc:
                    raise json.JSONDecodeError(str(exc), self.buf, end - len(raw)) from None
            return value, start, raw


class _TooLarge(Exception):
    pass


class _NotUTF8(Exception):
    def __init__(self, line: int, raw: bytes, message: str) -> None:
        super().__init__(message)
        self.line, self.raw, self.message = line, raw, message


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
    arrays inside it. Several top-level values may follow each other. A value larger than
    ``max_bytes`` is rejected and skipped to the next line, where reading goes on (a 10 MB line
    among NDJSON lines). A syntax error or a byte that is not UTF-8 ends the stream with one
    record naming the line: what follows a broken document cannot be read reliably, and the
    message says so.
    """
    name = display_name(path)
    reader = _JSONStream(stream, max_bytes)
    while True:
        try:
            while reader.peek():
                if reader.peek() == "[":
                    yield from _stream_array(reader, name, "")
                elif embedded and reader.peek() == "{":
                    yield from _stream_object(reader, name)
                else:
                    value, line, raw = reader.value()
                    yield Record(name, line, raw.encode(), value)
            yield from input_failure(path, stream, reader.line)
            return
        except _TooLarge:
            yield Record(
                name,
                reader.line,
                reader.buf[reader.pos : reader.pos + RAW_KEEP_BYTES].encode(),
                error=too_large(max_bytes),
            )
            try:
                if reader.skip_line():
                    continue
            except _NotUTF8:
                pass  # inside the value being skipped: it is rejected already
            return
        except _NotUTF8 as exc:
            yield Record(
                name,
                exc.line,
                exc.raw,
                error=Rejection(
                    Reason.ENCODING, "", f"{exc.message}; the rest of the file cannot be read"
                ),
            )
            return
        except json.JSONDecodeError as exc:
            line = reader.line + reader.buf.count("\n", reader.pos, exc.pos)
            reason = Reason.TRUNCATED if reader.eof and ends_early(exc) else Reason.MALFORMED_JSON
            rest = reader.buf[reader.pos : reader.pos + RAW_KEEP_BYTES]
            yield Record(
                name,
                line,
                rest.encode(),
                error=Rejection(reason, "", f"{exc.msg}; the rest of the file cannot be read"),
            )
            return


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
    size = 0
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
        size += len(raw)
        if size > reader.max_bytes:
            raise _TooLarge
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
        if not isinstance(key, str):
            raise json.JSONDecodeError("Expecting property name", reader.buf, reader.pos)
        reader.take(":")
        if reader.peek() == "[":
            yield from _stream_array(reader, name, pointer_join("_embedded", key))
        else:
            reader.value()  # counts or links inside _embedded are not records
    reader.pos += 1


def _looks_line_delimited(stream: IO[bytes], max_bytes: int) -> bool:
    """Whether to read line by line (NDJSON), by peeking at the first non-blank line only.

    A multi-line document starts with a line that opens JSON text and leaves it open (``[``,
    ``{"_embedded": {``); NDJSON starts with a whole value, or with a broken record (not JSON,
    not UTF-8) that is best rejected on its own line while the lines after it are read.
    """
    peek = getattr(stream, "peek", None)
    if peek is None:  # not seekable nor peekable: stream it as JSON text, which reads both
        return False
    head: bytes = peek(min(max_bytes, 1 << 20))
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    lines = head.split(b"\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        whole = index < len(lines) - 1  # else the line goes on beyond what peek shows
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            if whole or exc.reason != "unexpected end of data":
                return True
            text = line[: exc.start].decode("utf-8")  # a character cut by the end of the peek
        try:
            json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            if whole:  # left open at the end of the line: a document opens here
                return not (exc.msg.startswith("Expecting") and not text[exc.pos :].strip())
            return not ends_early(exc)  # fine as far as it is visible: a long one-line document
        except (ValueError, RecursionError):
            return True
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
                        record.path, record.line, _raw_of(item), item, pointer=pointer_join(index)
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
                    _raw_of(item),
                    item,
                    pointer=pointer_join("_embedded", key, index),
                )


def _raw_of(item: Any) -> bytes:
    """An element's own JSON text (its line holds the whole array or page)."""
    try:
        return orjson.dumps(item)
    except TypeError:  # integers beyond 64 bits, nesting beyond orjson's limit
        try:
            return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        except RecursionError:
            return b"[element nested too deeply to show]"
