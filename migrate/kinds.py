"""Input kinds (``--from``): which reader reads a file and which adapter converts its records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal, get_args

from adapters.events_store import event_from_record
from adapters.export import event_from_export_line
from adapters.set_token import event_from_token
from adapters.unified import UnifiedEvent
from adapters.v2 import V2Kind, event_from_v2
from migrate.readers import (
    DEFAULT_MAX_RECORD_BYTES,
    CountingReader,
    Record,
    open_binary,
    read_json_records,
    read_ndjson,
    read_tokens,
)

InputKind = Literal["v2", "set", "export", "events"]
INPUT_KINDS: tuple[str, ...] = get_args(InputKind)

Converter = Callable[[Any], UnifiedEvent]


@dataclass(frozen=True, slots=True)
class V2Options:
    """What v2 notifications do not say about themselves: the webhook's kind and callback hash."""

    kind: V2Kind | None = None
    expected_hash: str | None = None


def converter(kind: str, v2: V2Options | None = None) -> Converter:
    """The adapter for ``kind`` (a record's parsed value → unified event, or a Rejection)."""
    if kind == "v2":
        options = v2 or V2Options()
        return lambda value: event_from_v2(
            value, kind=options.kind, expected_hash=options.expected_hash
        )
    if kind == "set":
        return event_from_token
    if kind == "export":
        return event_from_export_line
    if kind == "events":
        return event_from_record
    raise ValueError(f"unknown input kind {kind!r}")


def iter_records(
    path: str,
    stream: Any,
    kind: str,
    *,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[Record]:
    """The records of an already opened input of ``kind`` (also ``summary``/``unified``).

    ``wanted``: see :func:`read_ndjson`; only line-delimited kinds can skip parsing by line
    (``line_per_record``), the others ignore it.
    """
    if kind in ("export", "unified"):
        return read_ndjson(path, stream, max_bytes=max_bytes, wanted=wanted)
    if kind == "set":
        return read_tokens(path, stream, max_bytes=max_bytes)
    return read_json_records(path, stream, max_bytes=max_bytes, embedded=kind == "events")


def line_per_record(kind: str) -> bool:
    """Whether every record of ``kind`` is one line of its own (never several to a line)."""
    return kind in ("export", "unified")


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
