"""Opening inputs: files, ``.gz`` (or gzip by its magic bytes) and stdin, with a byte counter
for progress; damaged or cut-short gzip data ends the input as one rejection."""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from typing import IO, Any, Final

from adapters.errors import Reason, Rejection
from migrate.readers.record import Record, display_name

CHUNK: Final = 1 << 16
GZIP_MAGIC: Final = b"\x1f\x8b"


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


def open_binary(path: str) -> tuple[IO[bytes], CountingReader]:
    """Open ``path`` (or stdin for ``-``), transparently gunzipping.

    Returns the stream to read and the counter of bytes taken from the file (compressed side),
    which is what progress against the file's size needs.
    """
    raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    counter = CountingReader(raw)
    buffered = io.BufferedReader(counter, CHUNK)
    if path.endswith(".gz") or buffered.peek(2)[:2] == GZIP_MAGIC:
        return Gunzip(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    return buffered, counter


class Gunzip(gzip.GzipFile):
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
    """The record for input that broke off (see :class:`Gunzip`), if it did."""
    failure = getattr(stream, "failure", None)
    if failure is not None:
        yield Record(display_name(path), line, b"", error=failure)
