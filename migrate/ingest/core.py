"""The backend-neutral part of ingest: options, reports, batches and the loading loop.

Nothing here imports SQLAlchemy: the SQLite path (``migrate.ingest.sqlite``) runs on the
standard library alone. A backend is a subclass of :class:`Ingester` that says how the ledger is
read and advanced and how a batch is written (``migrate.ingest.sqlite``,
``migrate.ingest.server``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from adapters.errors import Reason, Rejection
from adapters.events_store import event_from_record, token_of_record
from adapters.set_token import ParsedToken, event_from_parsed, parse_compact
from adapters.timefmt import format_ms
from adapters.unified import UnifiedEvent
from migrate.convert import RejectedRecord
from migrate.ingest.producers import Interleaved, ProcessProducer, ThreadProducer
from migrate.kinds import V2Options, converter, iter_records, line_per_record, opened
from migrate.progress import Progress
from migrate.readers import DEFAULT_MAX_RECORD_BYTES, Record, display_name

INGEST_KINDS: tuple[str, ...] = ("v2", "set", "export", "events")
COMPLETED = "completed"
INCOMPLETE = "incomplete"

NO_KEY_SOURCE = "no key source is configured (--jwks or WEBHOOKS_MIGRATE_JWKS)"
NOT_APPLICABLE = "not applicable: the input carries no signatures"

TokenCheck = Callable[[ParsedToken], None]
"""Signature verification hook: raises :class:`Rejection` for a token that must not be stored."""

BATCH = 1000
LARGE_BATCH = 5000
SPAN_ROWS = 50_000
SPAN_SECONDS = 3.0
# Producer processes on SQLite (with more than one core): parsing and staging a record costs
# more than writing it, so two producers keep one writer busy (see Interleaved).
PRODUCERS = 2


@dataclass(frozen=True, slots=True)
class IngestOptions:
    kind: str
    etag: str | None = None
    force: bool = False
    dry_run: bool = False
    batch_size: int | None = None
    """Records per batch; ``None``: the backend's default (``LARGE_BATCH`` on SQLite and PostgreSQL,
    ``BATCH`` on MariaDB)."""
    commit_rows: int | None = None
    """Commit (make progress durable) after about this many records; ``None``: the backend's
    default (``SPAN_ROWS`` on SQLite and PostgreSQL; every batch on MariaDB)."""
    v2: V2Options = field(default_factory=V2Options)
    verify: TokenCheck | None = None
    """Verify each token's signature (``set`` and ``events``); ``None`` stores them unverified."""
    unverified_because: str = NO_KEY_SOURCE
    """Said in the report when tokens are stored without verification (e.g. ``--no-verify``)."""
    show_progress: bool = False
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES
    on_reject: Callable[[RejectedRecord], None] | None = None


@dataclass(slots=True)
class FileReport:
    path: str
    sha256: str
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    already_ingested: bool = False
    resumed_from_line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "already_ingested": self.already_ingested,
            "resumed_from_line": self.resumed_from_line,
        }


@dataclass(slots=True)
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    verified: bool | None = None
    """True: every stored token's signature was verified; False: tokens were stored without
    verification (see ``signatures``); None: the input has no signatures (v2, export)."""
    signatures: str = NOT_APPLICABLE

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "signatures_verified": self.verified,
            "signatures": self.signatures,
        }


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """A file's row in ``ingest_files``: where it stands and what it has counted so far."""

    id: int
    status: str
    last_line: int
    read: int
    inserted: int
    duplicates: int
    rejected: int


class Batch:
    """Records of one transaction; never splits one input line (a v2 array line) in two."""

    def __init__(self) -> None:
        self.events: dict[str, Any] = {}  # event_id -> encoded row, in-batch duplicates dropped
        self.deliveries: list[dict[str, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        self.read = 0
        self.in_batch_duplicates = 0
        self.first_line = 0
        self.last_line = 0
        self.bytes_read = 0
        self.stage_file = ""  # SQLite: where the producer staged the rows
        self.copy_data = b""  # PostgreSQL: the rows as COPY text


# The events columns ingest writes: the unified event's own fields (a NamedTuple, so a row is the
# event itself, delivery aside), then what the store adds; ``_values`` produces them in order.
STORE_COLUMNS: tuple[str, ...] = (
    "signature_verified",
    "first_seen_at",
    "last_seen_at",
    "seen_count",
    "first_file_id",
    "last_file_id",
    "first_line",
)
EVENT_COLUMNS: tuple[str, ...] = UnifiedEvent._fields[:-1] + STORE_COLUMNS
assert UnifiedEvent._fields[-1] == "delivery"  # kept in its own table
_TIMES = tuple(
    EVENT_COLUMNS.index(n) for n in ("occurred_at", "issued_at", "first_seen_at", "last_seen_at")
)
_JSONS = tuple(EVENT_COLUMNS.index(n) for n in ("audience", "attributes", "payload"))
_BOOLS = (EVENT_COLUMNS.index("signature_verified"),)


def _sorted_rows(batch: Batch) -> list[Any]:
    # Sorted keys insert into the event_id index in order: fewer pages touched.
    return [batch.events[key] for key in sorted(batch.events)]


# The events columns bounded in length (the others are TEXT). Values longer than these are
# rejected before any backend sees them, so that none truncates (MariaDB's INSERT IGNORE would);
# a test checks this table against the model.
EVENT_STRING_LIMITS: dict[str, int] = {
    "event_id": 255,
    "source": 2,
    "event_type": 255,
    "entity_id": 255,
    "event_object_id": 255,
}


class Writer(Protocol):
    """How a backend encodes, stages and moves a batch of events."""

    def encode(self, values: list[Any]) -> Any: ...

    def prepare(self, batch: Batch) -> None:
        """Producer side: make the batch ready to cross to the writer (in a child process)."""

    def full(self) -> bool:
        """Whether the open transaction must commit before another batch joins it."""


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _materialised(path: str) -> Iterator[str]:
    """stdin is spooled to a temporary file so it can be hashed, ledgered and resumed."""
    if path != "-":
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="webhooks-migrate-stdin-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


Store = TypeVar("Store")
"""What a backend's ingester writes through (a SQLAlchemy connection, a sqlite3 connection)."""


class Ingester(Generic[Store]):
    """Loads files of one kind into one store; subclasses say how the store is written.

    Producers (child processes or a thread) read, parse, validate, convert and encode batches
    while the calling thread commits earlier ones: database drivers release the GIL while the
    server (or SQLite's B-tree code) works, so the two overlap on a second core.
    """

    writer: Writer

    def __init__(self, options: IngestOptions, *, spans: bool) -> None:
        """``spans``: load in large batches, several to a transaction (SQLite, PostgreSQL).

        Both rewrite every index page a transaction touched when it commits. Concurrent loads
        of one file insert in the same (sorted) order there, so they wait for each other rather
        than deadlock. MariaDB's gap locks can deadlock them: there each batch commits alone
        and is retried.
        """
        if options.kind not in INGEST_KINDS:
            raise ValueError(f"cannot ingest kind {options.kind!r}")
        self.options = options
        self.batch_size = options.batch_size or (LARGE_BATCH if spans else BATCH)
        # Rows per multi-batch transaction; 0: each batch commits alone.
        self.span_rows = (
            options.commit_rows if options.commit_rows is not None else (SPAN_ROWS if spans else 0)
        )
        self.limits = [
            (EVENT_COLUMNS.index(name), name, limit) for name, limit in EVENT_STRING_LIMITS.items()
        ]
        self.convert = self._converter()
        self.tokens = options.kind in ("set", "events")
        self.verified: bool | None = None
        self.signatures = NOT_APPLICABLE
        if options.kind in ("set", "events"):
            self.verified = options.verify is not None
            self.signatures = (
                "verified" if self.verified else f"NOT verified: {options.unverified_because}"
            )

    # -- what a backend provides ------------------------------------------------------------

    def _open_ledger(self, path: str, sha: str) -> LedgerRow:
        """The file's ledger row, created as incomplete if this is the first time."""
        raise NotImplementedError

    def _complete_file(self, file_id: int) -> None:
        raise NotImplementedError

    def _loading(self) -> contextlib.AbstractContextManager[Store]:
        """The connection one file is loaded through, with the writer open on it."""
        raise NotImplementedError

    def _begin(self, conn: Store) -> None:
        raise NotImplementedError

    def _commit(self, conn: Store) -> None:
        raise NotImplementedError

    def _in_transaction(self, conn: Store) -> bool:
        raise NotImplementedError

    def _write_rows(self, conn: Store, batch: Batch, file_id: int | None, *, recount: bool) -> int:
        """Insert the batch's events (skipping stored ones), deliveries and rejects; return
        how many events were inserted. Events seen before in another file get a re-sighting."""
        raise NotImplementedError

    def _advance_ledger(self, conn: Store, span: _Span, file_id: int, now: datetime) -> None:
        """Move the resume point over the span, in its transaction; conditional on the resume
        point, so that two processes racing over the same lines count them once."""
        raise NotImplementedError

    def _count_new(self, conn: Store, ids: list[str]) -> int:
        """Dry run: how many of ``ids`` the store does not have yet (read only)."""
        raise NotImplementedError

    def _producer_processes(self) -> int:
        """Child processes that prepare batches (0: a thread does)."""
        return 0

    # -- conversion ---------------------------------------------------------------------------

    def _converter(self) -> Callable[[Any], UnifiedEvent]:
        kind, verify = self.options.kind, self.options.verify
        if verify is None or kind not in ("set", "events"):
            return converter(kind, self.options.v2)
        if kind == "set":

            def from_token(text: Any) -> UnifiedEvent:
                token = parse_compact(text)
                verify(token)
                return event_from_parsed(token)

            return from_token

        def from_record(record: Any) -> UnifiedEvent:
            token = token_of_record(record)
            try:
                verify(token)
            except Rejection as rejection:
                raise rejection.under("/request/payload") from None
            return event_from_record(record, token)

        return from_record

    def _values(self, event: UnifiedEvent, file_id: int | None, line: int, now: str) -> list[Any]:
        """``EVENT_COLUMNS`` values for ``event`` (times in the unified text form)."""
        values: list[Any] = [*event[:-1], self.verified, now, now, 1, file_id, file_id, line]
        for index, name, limit in self.limits:
            value = values[index]
            if value is not None and len(value) > limit:
                # Checked here so that no backend truncates (MariaDB's INSERT IGNORE would).
                raise Rejection(
                    Reason.SCHEMA, "", f"{name} is {len(value)} characters; the store keeps {limit}"
                )
        return values

    def _batches(
        self,
        local: str,
        name: str,
        file_id: int | None,
        resume_after: int,
        share: tuple[int, int] = (0, 1),
    ) -> Iterator[Batch]:
        """Batches of records after line ``resume_after``, ready to write (producer side).

        With ``share = (k, n)`` this producer prepares only every n-th batch, starting with the
        k-th; the others it reads past, counting records so that its batch boundaries are the
        same as those of the producers preparing them.
        """
        mine, producers = share
        index = 0
        batch = Batch()
        now = format_ms(datetime.now(UTC))
        size = self.batch_size

        def wanted(line: int) -> bool:
            # Asked before a line's record is parsed (line-delimited kinds only), once the
            # records before it are in their batches: with one record per line, it opens the
            # next batch exactly when the current one is full. Lines already committed and
            # other producers' lines are read past without parsing.
            upcoming = index + 1 if batch.read >= size else index
            return line > resume_after and upcoming % producers == mine

        skip = wanted if line_per_record(self.options.kind) else None
        with opened(local) as (stream, counter):
            for record in iter_records(
                name, stream, self.options.kind, max_bytes=self.options.max_bytes, wanted=skip
            ):
                if record.line <= resume_after:
                    continue
                if batch.read >= size and record.line != batch.last_line:
                    if index % producers == mine:
                        batch.bytes_read = counter.consumed
                        yield self._prepared(batch)
                    batch, now = Batch(), format_ms(datetime.now(UTC))
                    index += 1
                if index % producers == mine:
                    self._add(batch, record, file_id, now)
                else:  # another producer's: only what decides where the batch ends
                    batch.read += 1
                    batch.last_line = record.line
            batch.bytes_read = counter.consumed
        if batch.read and index % producers == mine:
            yield self._prepared(batch)

    def _prepared(self, batch: Batch) -> Batch:
        if not self.options.dry_run:
            self.writer.prepare(batch)
        return batch

    def _add(self, batch: Batch, record: Record, file_id: int | None, now: str) -> None:
        if not batch.read:
            batch.first_line = record.line
        batch.read += 1
        batch.last_line = record.line
        rejection = record.error
        if rejection is None:
            try:
                event = self.convert(record.value)
                # JSON must escape U+0000, so a record without "\u0000" cannot hold one; a
                # token's claims are base64 in the record, so their decoded form is looked into.
                if (b"\\u0000" in record.raw and _contains_nul(record.value)) or (
                    self.tokens and _contains_nul(event.payload)
                ):
                    raise Rejection(
                        Reason.SCHEMA,
                        "",
                        "contains U+0000, which PostgreSQL cannot store (refused on every backend)",
                    )
                row = self.writer.encode(self._values(event, file_id, record.line, now))
            except Rejection as exc:
                rejection = exc
            else:
                if event.event_id in batch.events:
                    batch.in_batch_duplicates += 1
                    return
                batch.events[event.event_id] = row
                if event.delivery is not None:
                    batch.deliveries.append(_delivery_row(event, now))
                return
        rejected = RejectedRecord.of(record, rejection)
        batch.rejects.append(
            {
                "file_id": file_id,
                "path": rejected.path,
                "line": rejected.line,
                "pointer": rejected.pointer,
                "reason": rejected.reason,
                "message": rejected.message,
                "raw": rejected.raw,
                "created_at": datetime.fromisoformat(now),
            }
        )

    # -- loading ------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str]) -> IngestReport:
        report = IngestReport(verified=self.verified, signatures=self.signatures)
        for path in paths:
            report.files.append(self.ingest_file(path))
        return report

    def ingest_file(self, path: str) -> FileReport:
        with _materialised(path) as local:
            sha = sha256_of(local)
            name = display_name(path)
            if self.options.dry_run:
                return self._load(local, name, FileReport(name, sha), None, 0, recount=True)
            row = self._open_ledger(name, sha)
            if row.status == COMPLETED:
                if not self.options.force:
                    return FileReport(name, sha, already_ingested=True)
                # Forced re-read: count, insert nothing new, leave the ledger as it was.
                return self._load(local, name, FileReport(name, sha), row.id, 0, recount=True)
            report = FileReport(
                name,
                sha,
                read=row.read,
                inserted=row.inserted,
                duplicates=row.duplicates,
                rejected=row.rejected,
                resumed_from_line=row.last_line,
            )
            self._load(local, name, report, row.id, row.last_line, recount=False)
            self._complete_file(row.id)
            return report

    def _load(
        self,
        local: str,
        name: str,
        report: FileReport,
        file_id: int | None,
        resume_after: int,
        *,
        recount: bool,
    ) -> FileReport:
        progress = Progress(
            name, enabled=self.options.show_progress, total_bytes=os.path.getsize(local)
        )
        try:
            with self._loading() as conn:
                batches = self._producer(local, name, file_id, resume_after)
                try:
                    span = _Span()
                    for batch in batches:
                        # Reported here, not where the batch was made: a producer process's
                        # stderr is a copy, and its order would interleave with ours.
                        if self.options.on_reject is not None:
                            for reject in batch.rejects:
                                self.options.on_reject(_rejected_record(reject))
                        counts = self._write_batch(conn, batch, file_id, recount=recount, span=span)
                        report.read += batch.read
                        report.inserted += counts[0]
                        report.duplicates += counts[1]
                        report.rejected += len(batch.rejects)
                        progress.update(report.read, batch.bytes_read)
                    self._commit_span(conn, span, file_id, recount=recount)
                finally:
                    batches.close()  # the producers stop before their staging files go
        finally:
            progress.close()
        return report

    def _producer(
        self, local: str, name: str, file_id: int | None, resume_after: int
    ) -> ThreadProducer | Interleaved:
        """Where batches are prepared: child processes where the backend asks, else a thread.

        Parsing and preparing a record costs ~22 µs of Python; in the writer's process it would
        share one core with the writer through the GIL. A batch crosses the pipe as a staging
        file's name (SQLite) or one bytes object of ``COPY`` text (PostgreSQL), never as row
        objects to unpickle.
        """
        count = self._producer_processes()
        if count and not self.options.dry_run and ProcessProducer.available():
            return Interleaved(
                [
                    ProcessProducer(
                        functools.partial(
                            self._batches, local, name, file_id, resume_after, (k, count)
                        )
                    )
                    for k in range(count)
                ]
            )
        return ThreadProducer(self._batches(local, name, file_id, resume_after))

    def _write_batch(
        self,
        conn: Store,
        batch: Batch,
        file_id: int | None,
        *,
        recount: bool,
        span: _Span,
    ) -> tuple[int, int]:
        """Write one batch; return ``(inserted, duplicates)``.

        With spans, several batches share one transaction, committed every ``commit_rows``
        records or ``SPAN_SECONDS``: each commit rewrites every index page the span touched,
        and random event ids touch nearly all of them, so fewer, larger commits more than
        double the insert rate. Otherwise each batch commits alone (``_write_alone``).
        """
        converted = len(batch.events)
        if self.options.dry_run:
            inserted = self._count_new(conn, list(batch.events))
            return inserted, converted - inserted + batch.in_batch_duplicates
        if self.span_rows:
            if not span.read:  # the first batch of a new transaction
                if not self._in_transaction(conn):
                    self._begin(conn)
                span.start(batch.first_line)
            inserted = self._write_rows(conn, batch, file_id, recount=recount)
            span.add(batch, inserted, converted)
            if span.rows >= self.span_rows or span.age() >= SPAN_SECONDS or self.writer.full():
                self._commit_span(conn, span, file_id, recount=recount)
        else:
            inserted = self._write_alone(conn, batch, file_id, recount=recount, span=span)
        return inserted, converted - inserted + batch.in_batch_duplicates

    def _write_alone(
        self, conn: Store, batch: Batch, file_id: int | None, *, recount: bool, span: _Span
    ) -> int:
        """One batch in a transaction of its own, with its ledger advance."""
        self._begin(conn)
        span.start(batch.first_line)
        inserted = self._write_rows(conn, batch, file_id, recount=recount)
        span.add(batch, inserted, len(batch.events))
        self._commit_span(conn, span, file_id, recount=recount)
        return inserted

    def _commit_span(
        self,
        conn: Store,
        span: _Span,
        file_id: int | None,
        *,
        recount: bool,
        commit: bool = True,
    ) -> None:
        """Record the span's lines in the ledger, in the transaction that wrote them; commit."""
        if span.read and not recount and file_id is not None and not self.options.dry_run:
            self._advance_ledger(conn, span, file_id, datetime.now(UTC))
        if commit and self._in_transaction(conn):
            self._commit(conn)
        span.reset()


class _Span:
    """What the open transaction has written: the ledger advances by exactly this on commit."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first_line = 0
        self.last_line = 0
        self.read = self.inserted = self.duplicates = self.rejected = self.rows = 0
        self.started = time.monotonic()

    def start(self, first_line: int) -> None:
        self.reset()
        self.first_line = first_line

    def add(self, batch: Batch, inserted: int, converted: int) -> None:
        self.last_line = batch.last_line
        self.read += batch.read
        self.inserted += inserted
        self.duplicates += converted - inserted + batch.in_batch_duplicates
        self.rejected += len(batch.rejects)
        self.rows += batch.read

    def age(self) -> float:
        return time.monotonic() - self.started


def _delivery_row(event: UnifiedEvent, now: str) -> dict[str, Any]:
    d = event.delivery
    assert d is not None
    return {
        "event_id": event.event_id,
        "observed_at": datetime.fromisoformat(now),
        "record_id": d.record_id,
        "state": d.state,
        "attempts": d.attempts,
        "status_code": d.status_code,
        "endpoint": d.endpoint,
        "created_at": None if d.created_at is None else datetime.fromisoformat(d.created_at),
        "updated_at": None if d.updated_at is None else datetime.fromisoformat(d.updated_at),
    }


def _rejected_record(row: dict[str, Any]) -> RejectedRecord:
    return RejectedRecord(
        row["path"], row["line"], row["pointer"], row["reason"], row["message"], row["raw"]
    )


def _contains_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False
