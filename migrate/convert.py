"""Convert input files to unified-event NDJSON, keeping every rejected record with its reason."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from adapters.errors import Reason, Rejection
from adapters.jsontext import json_bytes
from adapters.unified import UnifiedEvent
from migrate.kinds import V2Options, converter, iter_records, opened
from migrate.progress import Progress
from migrate.readers import DEFAULT_MAX_RECORD_BYTES, Record, display_name


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record that did not convert, with everything needed to find and fix it."""

    path: str
    line: int
    pointer: str
    reason: str
    message: str
    raw: str

    @classmethod
    def of(cls, record: Record, rejection: Rejection) -> RejectedRecord:
        return cls(
            path=record.path,
            line=record.line,
            pointer=record.pointer + rejection.pointer,
            reason=rejection.reason,
            message=rejection.message,
            raw=record.raw_text(),
        )

    def location(self) -> str:
        """``file:line: pointer: message (reason)`` as editors and CI logs expect."""
        return (
            f"{self.path}:{self.line}: {self.pointer or '(root)'}: {self.message} ({self.reason})"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.path,
            "line": self.line,
            "pointer": self.pointer,
            "reason": self.reason,
            "message": self.message,
            "raw": self.raw,
        }


@dataclass(slots=True)
class ConvertCounts:
    read: int = 0
    converted: int = 0
    rejected: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"read {self.read}, converted {self.converted}, rejected {self.rejected}"
        if self.by_reason:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.by_reason.items())) + ")"
        return text


def event_line(event: UnifiedEvent) -> bytes:
    """One NDJSON line for ``event``; a payload that cannot be written is a rejection."""
    data = event.to_json()
    try:
        return json_bytes(data) + b"\n"
    except RecursionError:
        raise Rejection(Reason.TOO_LARGE, "", "nested too deeply to be written out") from None
    except ValueError as exc:  # NaN, or a lone surrogate: the readers refuse both already
        raise Rejection(Reason.ENCODING, "", f"cannot be written as JSON: {exc}") from None


def convert_files(
    paths: Iterable[str],
    kind: str,
    out: IO[bytes],
    *,
    v2: V2Options | None = None,
    rejects: IO[bytes] | None = None,
    on_reject: Callable[[RejectedRecord], None] | None = None,
    show_progress: bool = False,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> ConvertCounts:
    """Convert every record of ``paths``: events to ``out``, rejects to ``rejects``/``on_reject``.

    Invariant: ``read == converted + rejected``.
    """
    convert = converter(kind, v2)
    counts = ConvertCounts()
    for path in paths:
        size = os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
        progress = Progress(display_name(path), enabled=show_progress, total_bytes=size)
        with opened(path) as (stream, counter):
            for record in iter_records(path, stream, kind, max_bytes=max_bytes):
                counts.read += 1
                rejection = record.error
                if rejection is None:
                    try:
                        line = event_line(convert(record.value))
                    except Rejection as exc:
                        rejection = exc
                    else:
                        out.write(line)
                        counts.converted += 1
                        progress.update(counts.read, counter.consumed)
                        continue
                counts.rejected += 1
                counts.by_reason[rejection.reason] = counts.by_reason.get(rejection.reason, 0) + 1
                rejected = RejectedRecord.of(record, rejection)
                if rejects is not None:
                    rejects.write(json_bytes(rejected.to_json()) + b"\n")
                if on_reject is not None:
                    on_reject(rejected)
        progress.close()
    return counts
