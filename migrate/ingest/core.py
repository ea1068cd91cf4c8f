"""The backend-neutral part of ingest: the loading loop (options and reports are in
``migrate.ingest.reports``, batches in ``migrate.ingest.batch``, rows in ``migrate.store.writes``).

Nothing here imports SQLAlchemy: the SQLite path (``migrate.ingest.sqlite``) runs on the
standard library alone. A backend is a subclass of :class:`Ingester` that says how the ledger is
read and advanced and how a batch is written (``migrate.ingest.sqlite``,
``migrate.ingest.server``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from adapters.errors import Reason, Rejection
from adapters.jsontext import json_text
from adapters.timefmt import format_ms
from adapters.unified import UnifiedEvent
from migrate.convert import RejectedRecord
from migrate.errors import Interrupted
from migrate.ingest.batch import Batch, Counts, Span, Writer
from migrate.ingest.files import materialised, sha256_of
from migrate.ingest.producers import Interleaved, ProcessProducer, ThreadProducer
from migrate.ingest.reports import (
    BATCH,
    COMPLETED,
    INGEST_KINDS,
    LARGE_BATCH,
    NOT_APPLICABLE,
    SPAN_ROWS,
    SPAN_SECONDS,
    FileReport,
    IngestOptions,
    IngestReport,
    LedgerRow,
)
from migrate.kinds import converter, kind_of, opened
from migrate.progress import Progress
from migrate.readers import Record, display_name
from migrate.store.writes import delivery_row, event_values, reject_row

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
        self.kind = kind_of(options.kind)
        self.batch_size = options.batch_size or (LARGE_BATCH if spans else BATCH)
        # Rows per multi-batch transaction; 0: each batch commits alone.
        self.span_rows = (
            options.commit_rows if options.commit_rows is not None else (SPAN_ROWS if spans else 0)
        )
        self.convert = self._converter()
        self.tokens = self.kind.carries_tokens
        self.verified: bool | None = None
        self.signatures = NOT_APPLICABLE
        self.committed_line = 0
        """The last line of the file being loaded whose transaction has committed."""
        self.checking = options.dry_run
        self._name = ""  # the file being loaded, as reports name it
        """Records are only checked against the store (a dry run, a forced re-read): nothing is
        inserted, and a forced re-read only upgrades events this run verified."""
        if self.tokens:
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

    def _forget_file(self, file_id: int) -> None:
        """Remove the ledger row of a file that held no records (nothing refers to it)."""
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

    def _write_rows(
        self, conn: Store, batch: Batch, file_id: int | None, *, recount: bool
    ) -> Counts:
        """Insert the batch's events (skipping stored ones), deliveries and rejects; say what
        became of them (see :meth:`_counts`). A stored event_id with another payload is a
        conflict, kept in rejects; events seen before in another file get a re-sighting; events
        this run verified that were stored unverified are upgraded."""
        raise NotImplementedError

    def _stored(self, conn: Store, ids: list[str]) -> dict[str, tuple[Any, bool | None]]:
        """Read only: ``event_id -> (payload, signature_verified)`` of those of ``ids`` stored."""
        raise NotImplementedError

    def _upgrade(self, conn: Store, ids: list[str]) -> None:
        """Mark stored events ``ids`` verified (a forced re-read verified them), committed."""
        raise NotImplementedError

    def _advance_ledger(self, conn: Store, span: Span, file_id: int, now: datetime) -> None:
        """Move the resume point over the span, in its transaction; conditional on the resume
        point, so that two processes racing over the same lines count them once."""
        raise NotImplementedError

    def _producer_processes(self) -> int:
        """Child processes that prepare batches (0: a thread does)."""
        return 0

    # -- conversion ---------------------------------------------------------------------------

    def _converter(self) -> Callable[[Any], UnifiedEvent]:
        verify, verifying = self.options.verify, self.kind.verifying
        if verify is None or verifying is None:
            return converter(self.kind.name, self.options.v2)
        return verifying(verify)

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
        # Checked batches hold every payload, and the stored ones read back: smaller ones.
        size = min(self.batch_size, BATCH) if self.checking else self.batch_size

        def wanted(line: int) -> bool:
            # Asked before a line's record is parsed (line-delimited kinds only), once the
            # records before it are in their batches: with one record per line, it opens the
            # next batch exactly when the current one is full. Lines already committed and
            # other producers' lines are read past without parsing.
            upcoming = index + 1 if batch.read >= size else index
            return line > resume_after and upcoming % producers == mine

        skip = wanted if self.kind.line_per_record else None
        with opened(local) as (stream, counter):
            for record in self.kind.read(
                name, stream, max_bytes=self.options.max_bytes, wanted=skip
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
        if not self.checking:
            batch.payloads, batch.lines = {}, {}  # the writer compares what it staged
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
                values = event_values(
                    event, verified=self.verified, file_id=file_id, line=record.line, now=now
                )
                # A batch only checked against the store keeps no rows (its payloads are kept).
                row = None if self.checking else self.writer.encode(values)
            except Rejection as exc:
                rejection = exc
            else:
                key = event.event_id
                if key not in batch.events:
                    batch.events[key] = row
                    # A v2 id is derived from the notification's content (spellings of one
                    # instant are one notification): the same id is the same notification.
                    batch.payloads[key] = None if event.source == "v2" else event.payload
                    batch.lines[key] = record.line
                    if record.pointer:
                        batch.pointers[key] = record.pointer
                    if event.delivery is not None:
                        batch.deliveries.append(delivery_row(event, now))
                    return
                earlier = batch.payloads[key]
                if earlier is None or earlier == event.payload:
                    batch.in_batch_duplicates += 1
                    return
                batch.in_batch_conflicts += 1
                rejection = Rejection(
                    Reason.CONFLICT,
                    "",
                    f"event_id {key!r} was read at line {batch.lines[key]} with a different "
                    "payload; this record is kept here, the first one is stored",
                )
        rejected = RejectedRecord.of(record, rejection)
        batch.rejects.append(
            reject_row(
                file_id=file_id,
                path=rejected.path,
                line=rejected.line,
                pointer=rejected.pointer,
                reason=rejected.reason,
                message=rejected.message,
                raw=rejected.raw,
                now=now,
            )
        )

    # -- loading ------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str]) -> IngestReport:
        report = IngestReport(verified=self.verified, signatures=self.signatures)
        for path in paths:
            report.files.append(self.ingest_file(path))
        return report

    def ingest_file(self, path: str) -> FileReport:
        with materialised(path) as local:
            sha = sha256_of(local)
            name = display_name(path)
            self._name = name
            if self.options.dry_run:
                return self._load(local, name, FileReport(name, sha), None, 0, recount=True)
            row = self._open_ledger(name, sha)
            if row.status == COMPLETED:
                if not self.options.force:
                    return FileReport(name, sha, already_ingested=True)
                # Forced re-read: count and check against the store; insert nothing (what the
                # ledger's run did not store stays out), leave the ledger as it was.
                self.checking = True
                try:
                    report = FileReport(name, sha)
                    return self._load(local, name, report, row.id, 0, recount=True)
                finally:
                    self.checking = False
            report = FileReport(
                name,
                sha,
                read=row.read,
                inserted=row.inserted,
                duplicates=row.duplicates,
                conflicts=row.conflicts,
                rejected=row.rejected - row.conflicts,
                resumed_from_line=row.last_line,
            )
            self.committed_line = row.last_line
            try:
                self._load(local, name, report, row.id, row.last_line, recount=False)
            except KeyboardInterrupt:
                # The ledger is the truth: Ctrl-C may land between a commit and the line that
                # records it here, and the message must not say less than was committed.
                with contextlib.suppress(Exception):
                    self.committed_line = self._open_ledger(name, sha).last_line
                raise Interrupted(self._interrupted(name)) from None
            if report.read:
                self._complete_file(row.id)
            else:  # nothing was read: no ledger row for nothing
                self._forget_file(row.id)
            return report

    def _interrupted(self, name: str) -> str:
        """What an interrupted file's ledger holds, and how to go on."""
        where = "stdin" if name == "-" else name
        if not self.committed_line:
            return f"nothing of {where} was committed; run the same command to load it"
        return (
            f"committed through line {self.committed_line:,} of {where}; "
            "run the same command to resume"
        )

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
                    span = Span()
                    for batch in batches:
                        # Reported here, not where the batch was made: a producer process's
                        # stderr is a copy, and its order would interleave with ours.
                        if self.options.on_reject is not None:
                            for reject in batch.rejects:
                                self.options.on_reject(_rejected_record(reject))
                        counts = self._write_batch(conn, batch, file_id, recount=recount, span=span)
                        if self.options.on_reject is not None:
                            for reject in counts.conflict_rows:
                                self.options.on_reject(_rejected_record(reject))
                        report.read += batch.read
                        report.inserted += counts.inserted
                        report.duplicates += counts.duplicates
                        report.conflicts += counts.conflicts
                        report.rejected += counts.rejected
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
        if count and not self.checking and ProcessProducer.available():
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
        span: Span,
    ) -> Counts:
        """Write one batch; say what became of its records.

        With spans, several batches share one transaction, committed every ``commit_rows``
        records or ``SPAN_SECONDS``: each commit rewrites every index page the span touched,
        and random event ids touch nearly all of them, so fewer, larger commits more than
        double the insert rate. Otherwise each batch commits alone (``_write_alone``).
        """
        if self.checking:
            return self._check_batch(conn, batch, file_id)
        if self.span_rows:
            if not span.read:  # the first batch of a new transaction
                if not self._in_transaction(conn):
                    self._begin(conn)
                span.start(batch.first_line)
            counts = self._write_rows(conn, batch, file_id, recount=recount)
            span.add(batch, counts)
            if span.rows >= self.span_rows or span.age() >= SPAN_SECONDS or self.writer.full():
                self._commit_span(conn, span, file_id, recount=recount)
            return counts
        return self._write_alone(conn, batch, file_id, recount=recount, span=span)

    def _write_alone(
        self, conn: Store, batch: Batch, file_id: int | None, *, recount: bool, span: Span
    ) -> Counts:
        """One batch in a transaction of its own, with its ledger advance."""
        self._begin(conn)
        span.start(batch.first_line)
        counts = self._write_rows(conn, batch, file_id, recount=recount)
        span.add(batch, counts)
        self._commit_span(conn, span, file_id, recount=recount)
        return counts

    def _counts(self, batch: Batch, inserted: int, conflict_rows: list[dict[str, Any]]) -> Counts:
        """A written batch's counts: every converted event not inserted and not in conflict
        with the stored one is a duplicate."""
        return Counts(
            inserted=inserted,
            duplicates=len(batch.events)
            - inserted
            - len(conflict_rows)
            + batch.in_batch_duplicates,
            conflicts=len(conflict_rows) + batch.in_batch_conflicts,
            rejected=len(batch.rejects) - batch.in_batch_conflicts,
            conflict_rows=conflict_rows,
        )

    def _conflict_row(
        self, key: str, line: int, file_id: int | None, raw: str, pointer: str = ""
    ) -> dict[str, Any]:
        """The rejects row of a record whose event_id is stored with another payload: its
        ``raw`` is the record's payload (the stored one is the event's)."""
        return reject_row(
            file_id=file_id,
            path=self._name,
            line=line,
            pointer=pointer,
            reason=Reason.CONFLICT,
            message=f"event_id {key!r} is stored with a different payload; this record's "
            "payload is kept here, the stored event is unchanged",
            raw=raw,
            now=format_ms(datetime.now(UTC)),
        )

    def _check_batch(self, conn: Store, batch: Batch, file_id: int | None) -> Counts:
        """A dry run's or forced re-read's batch: compared with the store, never inserted.

        A record whose event the store lacks is one a dry run would insert; in a forced re-read
        it is one the ledger's run did not store (refused then, for instance for its signature
        where this run checks none), and it stays out: counted as rejected (``not_loaded``) and
        reported, not stored. A forced re-read that verified signatures upgrades the events it
        verified that are stored unverified.
        """
        ids = list(batch.events)
        stored = self._stored(conn, ids) if ids else {}
        counts = Counts(
            duplicates=batch.in_batch_duplicates,
            conflicts=batch.in_batch_conflicts,
            rejected=len(batch.rejects) - batch.in_batch_conflicts,
        )
        upgrade = []
        for key in ids:
            payload, line = batch.payloads[key], batch.lines[key]
            pointer = batch.pointers.get(key, "")
            have = stored.get(key)
            if have is None:
                if self.options.dry_run:
                    counts.inserted += 1
                    continue
                counts.rejected += 1
                row = self._conflict_row(key, line, file_id, json_text(payload), pointer)
                row["reason"] = Reason.NOT_LOADED
                row["message"] = (
                    f"event_id {key!r} is not in the store: the ledger's run of this file did "
                    "not store it, and --force adds nothing"
                )
                counts.conflict_rows.append(row)
            elif payload is not None and have[0] != payload:
                counts.conflicts += 1
                counts.conflict_rows.append(
                    self._conflict_row(key, line, file_id, json_text(payload), pointer)
                )
            else:
                counts.duplicates += 1
                if self.tokens and self.verified and have[1] is not True:
                    upgrade.append(key)
        if upgrade and not self.options.dry_run:
            self._upgrade(conn, upgrade)
        return counts

    def _commit_span(
        self,
        conn: Store,
        span: Span,
        file_id: int | None,
        *,
        recount: bool,
        commit: bool = True,
    ) -> None:
        """Record the span's lines in the ledger, in the transaction that wrote them; commit."""
        advanced = span.read and not recount and file_id is not None and not self.options.dry_run
        if advanced:
            assert file_id is not None
            self._advance_ledger(conn, span, file_id, datetime.now(UTC))
        if commit and self._in_transaction(conn):
            self._commit(conn)
            if advanced:
                self.committed_line = span.last_line
        span.reset()


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
