"""Batches: the records of one transaction, and what the open transaction has written."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapters.unified import UnifiedEvent


class Batch:
    """Records of one transaction; never splits one input line (a v2 array line) in two."""

    def __init__(self) -> None:
        self.events: dict[str, Any] = {}  # event_id -> encoded row, in-batch duplicates dropped
        self.deliveries: list[dict[str, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        # Producer side only (emptied before a batch crosses to the writer): each event's
        # payload, to tell an in-batch duplicate from a conflict, and, when the batch is only
        # checked against the store (a dry run, a forced re-read), its line.
        self.payloads: dict[str, Any] = {}
        self.lines: dict[str, int] = {}
        self.pointers: dict[str, str] = {}  # event_id -> the record's pointer, where not ""
        # Tokens this run proved forged (a signature failing against a known key, see
        # preparing.PROVEN_FORGED): event_id -> payload. An event stored unverified
        # (--no-verify) with that payload is removed from the store.
        self.refused: dict[str, Any] = {}
        self.read = 0
        self.in_batch_duplicates = 0
        self.in_batch_conflicts = 0  # conflict rows among ``rejects``
        self.first_line = 0
        self.last_line = 0
        self.bytes_read = 0
        self.stage_file = ""  # SQLite: where the producer staged the rows
        self.stage_constants: dict[str, Any] = {}  # SQLite: the columns of one value, not staged
        self.copy_data = b""  # PostgreSQL: the rows as COPY text
        self.last_key: str | None = None  # a database source: the last row's key (ledger text)


def sorted_rows(batch: Batch) -> list[Any]:
    """The batch's encoded event rows by event_id: they insert into the unique index in order
    (fewer pages touched)."""
    return [batch.events[key] for key in sorted(batch.events)]


class Writer(Protocol):
    """How a backend encodes, stages and moves a batch of events."""

    def encode(self, values: list[Any]) -> Any: ...

    def encode_event(
        self,
        event: UnifiedEvent,
        *,
        verified: bool | None,
        file_id: int | None,
        line: int,
        now: str,
    ) -> Any:
        """``encode(event_values(event, ...))``, or the same row made more directly."""

    def prepare(self, batch: Batch) -> None:
        """Producer side: make the batch ready to cross to the writer (in a child process)."""

    def full(self) -> bool:
        """Whether the open transaction must commit before another batch joins it."""


@dataclass(slots=True)
class Counts:
    """What became of a batch's records: ``read = inserted + duplicates + conflicts + rejected``."""

    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    conflict_rows: list[dict[str, Any]] = field(default_factory=list)
    """Reject rows of conflicts found against the store (the batch's own are in its rejects)."""
    removed: int = 0
    """Events stored unverified whose token this batch's run proved forged, removed."""


class Span:
    """What the open transaction has written: the ledger advances by exactly this on commit."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first_line = 0
        self.last_line = 0
        self.read = self.inserted = self.duplicates = self.rejected = self.rows = 0
        self.last_key: str | None = None
        self.conflicts = 0  # also counted in ``rejected`` (rows in rejects), as the ledger does
        self.started = time.monotonic()

    def start(self, first_line: int) -> None:
        self.reset()
        self.first_line = first_line

    def add(self, batch: Batch, counts: Counts) -> None:
        self.last_line = batch.last_line
        self.last_key = batch.last_key
        self.read += batch.read
        self.inserted += counts.inserted
        self.duplicates += counts.duplicates
        self.conflicts += counts.conflicts
        self.rejected += counts.rejected + counts.conflicts
        self.rows += batch.read

    def age(self) -> float:
        return time.monotonic() - self.started
