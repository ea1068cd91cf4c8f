"""The registry of input kinds (``--from``, ``--as``): for each, the reader of its files, the
schema of its records, the adapter that converts them and what it carries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol

from adapters import schema_registry as schemas
from adapters.errors import Reason, Rejection
from adapters.events_store import event_from_record, token_of_record
from adapters.export import event_from_export_line
from adapters.set_token import ParsedToken, event_from_parsed, event_from_token, parse_compact
from adapters.unified import UnifiedEvent
from adapters.v2 import V2Kind, event_from_v2
from adapters.v2_fastrows import fast_converter
from adapters.v2_rows import DEFAULT_COLUMNS, ColumnMap, MissingColumn, event_from_row
from migrate.errors import UsageError
from migrate.readers import (
    DEFAULT_MAX_RECORD_BYTES,
    CountingReader,
    Record,
    open_binary,
    read_json_records,
    read_ndjson,
    read_tokens,
)
from migrate.readers.csvrows import read_csv_rows

Converter = Callable[[Any], UnifiedEvent]
TokenCheck = Callable[[ParsedToken], None]
"""Signature verification hook: raises :class:`Rejection` for a token that must not be stored."""


@dataclass(frozen=True, slots=True)
class V2Options:
    """What v2 notifications do not say about themselves: the webhook's kind and callback hash."""

    kind: V2Kind | None = None
    expected_hash: str | None = None
    columns: ColumnMap = DEFAULT_COLUMNS
    """For archived rows (``v2-csv``, ``v2-sql``): which column holds each v2 field."""


class Reader(Protocol):
    """Reads the records of an opened input (see :mod:`migrate.readers`)."""

    def __call__(
        self,
        path: str,
        stream: Any,
        *,
        max_bytes: int,
        wanted: Callable[[int], bool] | None,
    ) -> Iterator[Record]: ...


def _v2(options: V2Options) -> Converter:
    return lambda value: event_from_v2(
        value, kind=options.kind, expected_hash=options.expected_hash
    )


def _v2_rows(options: V2Options) -> Converter:
    checked = False
    fast = fast_converter(options.columns, kind=options.kind, expected_hash=options.expected_hash)

    def from_row(row: Any) -> UnifiedEvent:
        nonlocal checked
        if not checked:  # the first row shows the columns every row has
            try:
                options.columns.check_columns(list(row))
            except MissingColumn as exc:
                raise UsageError(str(exc)) from None
            checked = True
        # The usual row in a few µs; anything else (and every row refused) the slow way.
        event = fast(row)
        if event is not None:
            return event
        return event_from_row(
            row, options.columns, kind=options.kind, expected_hash=options.expected_hash
        )

    return from_row


@dataclass(frozen=True, slots=True)
class Kind:
    """One input kind: how its files are read, what checks its records, what converts them."""

    name: str
    read: Reader
    schema: str | None
    """The JSON Schema a record satisfies (``None``: the record is a token, see ``signed_part``)."""
    converter: Callable[[V2Options], Converter] | None
    """The adapter, given the v2 options (``None``: validate only, nothing converts it)."""
    signed_part: str | None = None
    """Where the record carries a signed token (JSON Pointer; ``""``: the record is one)."""
    line_per_record: bool = False
    """Every record is one line of its own (never several to a line): lines can be skipped
    without parsing them."""
    verifying: Callable[[TokenCheck], Converter] | None = None
    """For kinds that carry tokens: the adapter that checks each token's signature first."""
    distinct_lines: bool = False
    """Every record starts on a line of its own, though it may span several (a CSV row): the
    reader, asked ``wanted`` before it builds each record, leaves those not wanted unbuilt."""
    ingest_only: bool = False
    """Only ``ingest`` reads it (a v2 archive: rows, with a column mapping)."""
    database: bool = False
    """Read from a database (``--source``), not from files."""

    @property
    def skippable(self) -> bool:
        """Whether the reader can be told which records to leave unparsed (``wanted``)."""
        return self.line_per_record or self.distinct_lines

    @property
    def carries_tokens(self) -> bool:
        return self.signed_part is not None


def _verified_tokens(verify: TokenCheck) -> Converter:
    def from_token(text: Any) -> UnifiedEvent:
        token = parse_compact(text)
        verify(token)
        return event_from_parsed(token)

    return from_token


def _verified_records(verify: TokenCheck) -> Converter:
    def from_record(record: Any) -> UnifiedEvent:
        token = token_of_record(record)
        try:
            verify(token)
        except Rejection as rejection:
            raise rejection.under("/request/payload") from None
        return event_from_record(record, token)

    return from_record


def _ndjson(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    return read_ndjson(path, stream, max_bytes=max_bytes, wanted=wanted)


def _export_lines(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    """Export NDJSON; a first line that opens a JSON document over several lines (an
    events-store page) gets a hint at ``--from events``."""
    records = read_ndjson(path, stream, max_bytes=max_bytes, wanted=wanted)
    first = next(records, None)
    if first is None:
        return
    error = first.error
    if error is not None and error.reason == Reason.TRUNCATED and first.raw.lstrip()[:1] == b"{":
        first.error = Rejection(
            error.reason,
            error.pointer,
            f"{error.message}; this is a JSON document over several lines, not one object a "
            "line (an events-store file, /_embedded/events or records, is read with --from "
            "events)",
        )
    yield first
    yield from records


def _tokens(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    return read_tokens(path, stream, max_bytes=max_bytes)


def _documents(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    return read_json_records(path, stream, max_bytes=max_bytes)


def _events_pages(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    return read_json_records(path, stream, max_bytes=max_bytes, embedded=True)


def _csv_rows(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    return read_csv_rows(path, stream, max_bytes=max_bytes, wanted=wanted)


def _database(
    path: str, stream: Any, *, max_bytes: int, wanted: Callable[[int], bool] | None
) -> Iterator[Record]:
    raise UsageError("v2-sql reads a database: give --source URL and --table or --query")


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("v2", _documents, schemas.V2_NOTIFICATION, _v2),
        Kind(
            "set",
            _tokens,
            None,
            lambda _: event_from_token,
            signed_part="",
            verifying=_verified_tokens,
        ),
        Kind(
            "export",
            _export_lines,
            schemas.SET_CLAIMS,
            lambda _: event_from_export_line,
            line_per_record=True,
        ),
        Kind(
            "events",
            _events_pages,
            schemas.EVENTS_RECORD,
            lambda _: event_from_record,
            signed_part="/request/payload",
            verifying=_verified_records,
        ),
        Kind("v2-csv", _csv_rows, None, _v2_rows, distinct_lines=True, ingest_only=True),
        Kind("v2-sql", _database, None, _v2_rows, ingest_only=True, database=True),
        Kind("summary", _documents, schemas.SUMMARY, None),
        Kind("unified", _ndjson, schemas.UNIFIED, None, line_per_record=True),
    )
}
"""Every input kind by name: the one list of kind names."""
KIND_NAMES: tuple[str, ...] = tuple(name for name, k in KINDS.items() if not k.ingest_only)
"""What ``validate --as`` takes."""
INPUT_KINDS: tuple[str, ...] = tuple(
    name for name, k in KINDS.items() if k.converter and not k.ingest_only
)
"""What ``convert --from`` takes: the kinds whose files become unified events."""
INGEST_KINDS: tuple[str, ...] = tuple(name for name, k in KINDS.items() if k.converter)
"""What ``ingest --from`` takes: those, and the v2 archive's rows (``v2-csv``, ``v2-sql``)."""


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown input kind {name!r}") from None


def converter(kind: str, v2: V2Options | None = None) -> Converter:
    """The adapter for ``kind`` (a record's parsed value → unified event, or a Rejection)."""
    make = kind_of(kind).converter
    if make is None:
        raise ValueError(f"input kind {kind!r} is not converted (validate only)")
    return make(v2 or V2Options())


def iter_records(
    path: str,
    stream: Any,
    kind: str,
    *,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[Record]:
    """The records of an already opened input of ``kind``.

    ``wanted``: see :func:`read_ndjson`; only line-delimited kinds can skip parsing by line
    (``line_per_record``), the others ignore it.
    """
    return kind_of(kind).read(path, stream, max_bytes=max_bytes, wanted=wanted)


def line_per_record(kind: str) -> bool:
    """Whether every record of ``kind`` is one line of its own (never several to a line)."""
    return kind_of(kind).line_per_record


@contextmanager
def opened(path: str) -> Iterator[tuple[IO[bytes], CountingReader]]:
    """Open an input (file, ``.gz`` or ``-``) with a counter of bytes taken from the file."""
    stream, counter = open_binary(path)
    try:
        yield stream, counter
    finally:
        if path != "-":
            stream.close()
            counter.close()  # a GzipFile does not close the file under it
