"""Streaming readers: any size of input, constant memory, every record accounted for.

One module per job: ``opening`` (files, gzip, stdin), ``lines`` (splitting lines, NDJSON,
tokens), ``jsonpolicy`` (how JSON text is parsed and refused), ``documents`` (streamed JSON
documents), ``sniff`` (which layout a file has); ``record`` is what they all yield.

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

from migrate.readers.documents import read_json_document
from migrate.readers.jsonpolicy import json_rejection, parse_json_bytes, too_large
from migrate.readers.lines import iter_lines, read_ndjson, read_tokens
from migrate.readers.opening import CountingReader, input_failure, open_binary
from migrate.readers.record import DEFAULT_MAX_RECORD_BYTES, RAW_KEEP_BYTES, Record, display_name
from migrate.readers.sniff import read_json_records

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "RAW_KEEP_BYTES",
    "CountingReader",
    "Record",
    "display_name",
    "input_failure",
    "iter_lines",
    "json_rejection",
    "open_binary",
    "parse_json_bytes",
    "read_json_document",
    "read_json_records",
    "read_ndjson",
    "read_tokens",
    "too_large",
]
