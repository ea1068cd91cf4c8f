"""CSV with a header row (a dump of a v2 archive table): one record per row, as a dict of
column → value (an empty field is NULL), numbered by the line the row starts on."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from adapters.errors import Reason, Rejection
from migrate.errors import UsageError
from migrate.readers.record import RAW_KEEP_BYTES, Record


class _RawText:
    """A row back as CSV text (what rejects keep), through one writer and buffer for a file:
    a new ``csv.writer`` a row cost as much as reading the row."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="")

    def __call__(self, values: list[str]) -> bytes:
        buffer = self.buffer
        buffer.seek(0)
        buffer.truncate()
        self.writer.writerow(values)
        return buffer.getvalue().encode("utf-8", errors="backslashreplace")


def read_csv_rows(
    path: str,
    stream: IO[bytes],
    *,
    max_bytes: int,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[Record]:
    """The rows of a CSV file after its header, each a :class:`Record` whose value is a dict.

    A row with another number of fields than the header, invalid UTF-8, U+0000 (which
    PostgreSQL cannot store) or more than ``max_bytes`` of text is a rejected record; blank
    lines are skipped. A header that names a column twice is a usage error.

    ``wanted(line)``, if given, is asked before each row's record is built: a row not wanted is
    still yielded (it counts) as a bare record, no ``value``, no ``error`` (the fields must be
    split all the same, to find where the next row starts).
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    # A field as long as a whole record may be: the record's own limit decides.
    csv.field_size_limit(max(csv.field_size_limit(), max_bytes + 1))
    rows = csv.reader(text, strict=False)
    try:
        header = next(rows)
    except StopIteration:
        return
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise UsageError(f"{path}: the header names the column {twice[0]!r} more than once")
    width = len(header)
    _raw = _RawText()
    ended = rows.line_num
    while True:
        line = ended + 1
        try:
            values = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            ended = rows.line_num
            if wanted is not None and not wanted(line):
                yield Record(path, line, b"")
                continue
            yield Record(
                path, line, b"", error=Rejection(Reason.MALFORMED_JSON, "", f"not CSV: {exc}")
            )
            continue
        ended = rows.line_num
        if not values:
            continue  # a blank line
        if wanted is not None and not wanted(line):
            yield Record(path, line, b"")
            continue
        joined = "".join(values)
        error = None
        if len(joined) > max_bytes:
            error = Rejection(
                Reason.TOO_LARGE, "", f"the row is over the limit of {max_bytes} bytes"
            )
        elif len(values) != width:
            error = Rejection(
                Reason.SCHEMA, "", f"the row has {len(values)} fields; the header has {width}"
            )
        else:
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                error = Rejection(Reason.ENCODING, "", "the row is not valid UTF-8")
            else:
                if "\x00" in joined:
                    error = Rejection(
                        Reason.SCHEMA,
                        "",
                        "contains U+0000, which PostgreSQL cannot store (refused on every backend)",
                    )
        raw = _raw(values)
        if error is not None:
            yield Record(path, line, raw[:RAW_KEEP_BYTES], error=error)
            continue
        row: dict[str, Any] = {
            h: (v if v != "" else None) for h, v in zip(header, values, strict=True)
        }
        yield Record(path, line, raw, value=row)
