"""The producer side of ingest: records read from a file become batches ready to write
(converted, checked, encoded for the backend; rejects and conflicts within the batch found)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from adapters.errors import Reason, Rejection
from adapters.timefmt import format_ms
from adapters.unified import UnifiedEvent
from migrate.archive.source import Share, SqlSource
from migrate.convert import RejectedRecord
from migrate.ingest.batch import Batch, Writer
from migrate.ingest.reports import BATCH, IngestOptions
from migrate.kinds import Kind, converter, opened
from migrate.readers import Record
from migrate.store.rows import NUL_REFUSED, contains_nul, delivery_row, event_values, reject_row

PROVEN_FORGED: frozenset[str] = frozenset(("signature_length", "bad_signature"))
"""Verification codes (``migrate.verify.reasons``) that prove a token was not signed by the
key it names: the signature fails against a key the JWKS holds. Only these remove an event
stored unverified with the same payload. The other signature codes say what this run's keys
or rules lack (``unknown_kid``, ``missing_kid``, ``jku_mismatch``: a rotation may have retired
the key; ``alg_not_allowed``, ``header_key_material``, ``crit_unsupported``: a rule, checked
against no key), so such an event stays, unverified."""


class BatchMaker:
    """Makes the batches of one file (in a producer process or thread); see ``Ingester``."""

    options: IngestOptions
    kind: Kind
    batch_size: int
    convert: Callable[[Any], UnifiedEvent]
    tokens: bool
    verified: bool | None
    checking: bool
    writer: Writer
    resume_key: str | None  # a database source: the key at the resume point

    # -- conversion ---------------------------------------------------------------------------

    def _note_refused(self, batch: Batch, value: Any) -> None:
        """Keep the id and payload of a token proven forged (see Batch.refused)."""
        try:
            event = converter(self.kind.name, self.options.v2)(value)
        except Rejection:
            return  # not even a token: nothing of it can be stored
        batch.refused[event.event_id] = event.payload

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
        source: SqlSource | None = None,
    ) -> Iterator[Batch]:
        """Batches of records after line ``resume_after``, ready to write (producer side).

        With ``share = (k, n)`` this producer prepares only every n-th batch, starting with the
        k-th; the others it reads past, counting records so that its batch boundaries are the
        same as those of the producers preparing them. A database ``source`` in a shared
        snapshot sends each producer only the rows of its own batches, numbered.
        """
        mine, producers = share
        index = 0
        batch = Batch()
        now = format_ms(datetime.now(UTC))
        # Checked batches hold every payload, and the stored ones read back: smaller ones.
        size = min(self.batch_size, BATCH) if self.checking else self.batch_size
        if source is not None and producers > 1:
            yield from self._shared_batches(source, file_id, resume_after, Share(*share, size))
            return

        def wanted(line: int) -> bool:
            # Asked before a line's record is parsed (kinds whose records each start a line
            # of their own), once the records before it are in their batches: with one record
            # per line number, it opens the next batch exactly when the current one is full.
            # Lines already committed and other producers' lines are read past unparsed.
            upcoming = index + 1 if batch.read >= size else index
            return line > resume_after and upcoming % producers == mine

        skip = wanted if self.kind.skippable else None
        with self._records(local, name, resume_after, skip) as (records, counter):
            for record in records:
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

    def _shared_batches(
        self, source: SqlSource, file_id: int | None, resume_after: int, share: Share
    ) -> Iterator[Batch]:
        """This producer's batches of a source read in a shared snapshot: the rows come
        numbered, only those of its batches, so a row's number says which batch it is in."""
        key = self.resume_key if resume_after else None
        index, batch, now = -1, Batch(), format_ms(datetime.now(UTC))
        with source.records(key, resume_after + 1, share) as (records, _):
            for record in records:
                at = (record.line - resume_after - 1) // share.batch_rows
                if at != index:
                    if batch.read:
                        yield self._prepared(batch)
                    batch, now, index = Batch(), format_ms(datetime.now(UTC)), at
                self._add(batch, record, file_id, now)
        if batch.read:
            yield self._prepared(batch)

    @contextlib.contextmanager
    def _records(
        self, local: str, name: str, resume_after: int, skip: Callable[[int], bool] | None
    ) -> Iterator[tuple[Iterator[Record], Any]]:
        """A file's records and its byte counter, or the source's rows after the last commit."""
        if self.options.source is not None:
            key = self.resume_key if resume_after else None
            with self.options.source.records(key, resume_after + 1) as rows:
                yield rows
            return
        with opened(local) as (stream, counter):
            records = self.kind.read(name, stream, max_bytes=self.options.max_bytes, wanted=skip)
            yield records, counter

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
        batch.last_key = record.key
        rejection = record.error
        if rejection is None:
            try:
                event = self.convert(record.value)
                # JSON must escape U+0000, so a record without "\u0000" cannot hold one; a
                # token's claims are base64 in the record, so their decoded form is looked into.
                if (b"\\u0000" in record.raw and contains_nul(record.value)) or (
                    self.tokens and contains_nul(event.payload)
                ):
                    raise Rejection(Reason.SCHEMA, "", NUL_REFUSED)
                # A batch only checked against the store keeps no rows (its payloads are kept).
                verified, line = self.verified, record.line
                if self.checking:  # refuses what the store cannot keep, as a write would
                    event_values(event, verified=verified, file_id=file_id, line=line, now=now)
                    row = None
                else:
                    row = self.writer.encode_event(
                        event, verified=verified, file_id=file_id, line=line, now=now
                    )
            except Rejection as exc:
                rejection = exc
                if self.verified and exc.reason in PROVEN_FORGED:
                    self._note_refused(batch, record.value)
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
