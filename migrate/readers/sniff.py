"""Format sniffing for v2 and events-store input: NDJSON when the first line is whole JSON,
else a streamed document; arrays and pages on one line yield their elements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from adapters.errors import Reason, Rejection, pointer_join
from adapters.jsontext import json_bytes, refuse_constant
from migrate.readers.documents import read_json_document
from migrate.readers.jsonpolicy import ends_early
from migrate.readers.lines import BOM, read_ndjson
from migrate.readers.record import DEFAULT_MAX_RECORD_BYTES, Record


def looks_line_delimited(stream: IO[bytes], max_bytes: int) -> bool:
    """Whether to read line by line (NDJSON), by peeking at the first non-blank line only.

    A multi-line document starts with a line that opens JSON text and leaves it open (``[``,
    ``{"_embedded": {``); NDJSON starts with a whole value, or with a broken record (not JSON,
    not UTF-8) that is best rejected on its own line while the lines after it are read.
    """
    peek = getattr(stream, "peek", None)
    if peek is None:  # not seekable nor peekable: stream it as JSON text, which reads both
        return False
    head: bytes = peek(min(max_bytes, 1 << 20))
    if head.startswith(BOM):
        head = head[len(BOM) :]
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
            json.loads(text, parse_constant=refuse_constant)
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
    if looks_line_delimited(stream, max_bytes):
        for record in read_ndjson(path, stream, max_bytes=max_bytes):
            value = record.value
            if record.error is None and isinstance(value, list):
                for index, item in enumerate(value):
                    yield Record(
                        record.path, record.line, raw_of(item), item, pointer=pointer_join(index)
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
                    raw_of(item),
                    item,
                    pointer=pointer_join("_embedded", key, index),
                )


def raw_of(item: Any) -> bytes:
    """An element's own JSON text (its line holds the whole array or page)."""
    try:
        return json_bytes(item)
    except RecursionError:
        return b"[element nested too deeply to show]"
