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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from migrate.errors import Interrupted
from migrate.ingest.batch import Batch, Counts, Span, Writer
from migrate.ingest.files import materialised, sha256_of
from migrate.ingest.outcomes import (
    checked_counts,
    conflict_row,
    rejected_record,
    written_counts,
)
from migrate.ingest.preparing import BatchMaker
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
from migrate.kinds import kind_of
from migrate.progress import Progress
from migrate.readers import display_name

Store = TypeVar("Store")
"""What a backend's ingester writes through (a SQLAlchemy connection, a sqlite3 connection)."""


class Ingester(BatchMaker, Generic[Store]):
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
        """Records are only checked against the store (a dry run, a forced re-read): nothing is
        inserted, and a forced re-read only upgrades events this run verified."""
        self._name = ""  # the file being loaded, as reports name it
        self.resume_key: str | None = None  # a database source: the key at committed_line
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

    def _delete_unverified(self, conn: Store, ids: list[str]) -> int:
        """Delete those of stored events ``ids`` still unverified (``signature_verified``
        false), and only their deliveries, in the open transaction; return how many. Decided
        in the deleting transaction (rows locked where the backend can): an event another
        process verified since it was read stays."""
        raise NotImplementedError

    def _remove_refused(self, conn: Store, batch: Batch) -> int:
        """Remove events stored unverified (``signature_verified`` false: ``--no-verify``)
        whose token, same payload, this run proved forged (``PROVEN_FORGED``: a signature
        failing against a known key, not an unknown kid); return how many.

        Never an event stored verified, or never checked (NULL: an export line says the
        event is Identity Cloud's), nor one whose stored payload differs."""
        if not batch.refused:
            return 0
        stored = self._stored(conn, list(batch.refused))
        victims = [
            key
            for key, (payload, verified) in stored.items()
            if verified is False and payload == batch.refused[key]
        ]
        return self._delete_unverified(conn, victims) if victims else 0

    def _advance_ledger(self, conn: Store, span: Span, file_id: int, now: datetime) -> None:
        """Move the resume point over the span, in its transaction; conditional on the resume
        point, so that two processes racing over the same lines count them once."""
        raise NotImplementedError

    def _producer_processes(self) -> int:
        """Child processes that prepare batches (0: a thread does)."""
        return 0

    # -- loading ------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str]) -> IngestReport:
        from migrate.ingest.bulk import deferred_indexes

        report = IngestReport(verified=self.verified, signatures=self.signatures)
        with deferred_indexes(self, paths):  # bulk mode: secondary indexes built at the end
            if (source := self.options.source) is not None:  # v2-sql: a database's rows
                report.files.append(self._ingest_input("", source.name, source.identity))
            for path in paths:
                report.files.append(self.ingest_file(path))
        return report

    def ingest_file(self, path: str) -> FileReport:
        with materialised(path) as local:
            return self._ingest_input(local, display_name(path), sha256_of(local))

    def _ingest_input(self, local: str, name: str, sha: str) -> FileReport:
        """Load one input (a file at ``local``, or the source) known to the ledger as ``sha``."""
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
        self.resume_key = row.resume_key if row.last_line else None
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
        unit = "row" if self.options.source is not None else "line"  # a database's rows
        return (
            f"committed through {unit} {self.committed_line:,} of {where}; "
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
        size = None if self.options.source else os.path.getsize(local)
        progress = Progress(name, enabled=self.options.show_progress, total_bytes=size)
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
                                self.options.on_reject(rejected_record(reject))
                        counts = self._write_batch(conn, batch, file_id, recount=recount, span=span)
                        if self.options.on_reject is not None:
                            for reject in counts.conflict_rows:
                                self.options.on_reject(rejected_record(reject))
                        report.read += batch.read
                        report.inserted += counts.inserted
                        report.duplicates += counts.duplicates
                        report.conflicts += counts.conflicts
                        report.rejected += counts.rejected
                        report.unverified_removed += counts.removed
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
        source = self.options.source
        if source is not None and not source.shareable:  # a second reader may see other rows
            count = min(count, 1)
        if count and not self.checking and ProcessProducer.available():
            with contextlib.ExitStack() as held:
                if source is not None and count > 1:  # each producer reads a share of one snapshot
                    from migrate.archive.snapshot import shared_snapshot

                    source = held.enter_context(shared_snapshot(source))
                producers = [
                    ProcessProducer(
                        functools.partial(
                            self._batches, local, name, file_id, resume_after, (k, count), source
                        )
                    )
                    for k in range(count)
                ]
                return Interleaved(producers, held.pop_all())  # it closes the snapshot last
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
        return written_counts(batch, inserted, conflict_rows)

    def _conflict_row(
        self, key: str, line: int, file_id: int | None, raw: str, pointer: str = ""
    ) -> dict[str, Any]:
        return conflict_row(self._name, key, line, file_id, raw, pointer)

    def _check_batch(self, conn: Store, batch: Batch, file_id: int | None) -> Counts:
        """A dry run's or forced re-read's batch: compared with the store, never inserted (see
        :func:`migrate.ingest.outcomes.checked_counts`); a forced re-read that verified
        signatures upgrades the events it verified that are stored unverified."""
        ids = list(batch.events)
        stored = self._stored(conn, ids) if ids else {}
        counts, upgrade = checked_counts(
            batch,
            stored,
            file_id,
            self._name,
            dry_run=self.options.dry_run,
            verified=bool(self.tokens and self.verified),
        )
        if upgrade and not self.options.dry_run:
            self._upgrade(conn, upgrade)
        if batch.refused and not self.options.dry_run:
            counts.removed = self._remove_alone(conn, batch)
        return counts

    def _remove_alone(self, conn: Store, batch: Batch) -> int:
        """:meth:`_remove_refused` in a transaction of its own (a forced re-read)."""
        if not self._in_transaction(conn):  # reads may have begun one (SQLAlchemy autobegins)
            self._begin(conn)
        removed = self._remove_refused(conn, batch)
        self._commit(conn)
        return removed

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
