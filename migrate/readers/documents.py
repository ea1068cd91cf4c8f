"""Streamed JSON documents: a pretty-printed v2 array or an events-store page far larger than
memory, read value by value with line numbers kept."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any

from adapters.errors import Reason, Rejection, pointer_join
from adapters.jsontext import refuse_constant
from migrate.readers.jsonpolicy import check_unicode, ends_early, too_large
from migrate.readers.opening import CHUNK, input_failure
from migrate.readers.record import DEFAULT_MAX_RECORD_BYTES, RAW_KEEP_BYTES, Record, display_name


class JSONStream:
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
        self.decoder = json.JSONDecoder(parse_constant=refuse_constant)

    def _fill(self) -> bool:
        while not self.eof:
            data = self.stream.read(CHUNK)
            try:
                chunk = self.decode(data, not data)
            except UnicodeDecodeError as exc:
                # exc.object is this read (after any bytes of a character begun in the last one).
                bad = exc.object
                raise NotUTF8(
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
                    raise TooLarge from None
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


class TooLarge(Exception):
    pass


class NotUTF8(Exception):
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
    reader = JSONStream(stream, max_bytes)
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
        except TooLarge:
            yield Record(
                name,
                reader.line,
                reader.buf[reader.pos : reader.pos + RAW_KEEP_BYTES].encode(),
                error=too_large(max_bytes),
            )
            try:
                if reader.skip_line():
                    continue
            except NotUTF8:
                pass  # inside the value being skipped: it is rejected already
            return
        except NotUTF8 as exc:
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


def _stream_array(reader: JSONStream, name: str, prefix: str) -> Iterator[Record]:
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


def _stream_object(reader: JSONStream, name: str) -> Iterator[Record]:
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
            raise TooLarge
        members[key] = value
        raw_parts.append(f"{json.dumps(key)}:{raw}")
    reader.pos += 1
    if not saw_embedded:
        yield Record(name, start_line, ("{" + ",".join(raw_parts) + "}").encode(), members)


def _stream_embedded(reader: JSONStream, name: str) -> Iterator[Record]:
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
