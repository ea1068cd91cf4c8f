"""What became of a batch's records: counts, conflict and ``not_loaded`` rows, and the check of
a batch against the store (a dry run, a forced re-read). Pure functions of the batch and of
what the store holds; the ingester (``migrate.ingest.core``) reads the store and writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.errors import Reason
from adapters.jsontext import json_text
from adapters.timefmt import format_ms
from migrate.convert import RejectedRecord
from migrate.ingest.batch import Batch, Counts
from migrate.store.rows import reject_row

Stored = dict[str, tuple[Any, bool | None]]
"""``event_id -> (payload, signature_verified)`` of the stored events among a batch's."""


def written_counts(batch: Batch, inserted: int, conflict_rows: list[dict[str, Any]]) -> Counts:
    """A written batch's counts: every converted event neither inserted nor in conflict with
    the stored one is a duplicate."""
    return Counts(
        inserted=inserted,
        duplicates=len(batch.events) - inserted - len(conflict_rows) + batch.in_batch_duplicates,
        conflicts=len(conflict_rows) + batch.in_batch_conflicts,
        rejected=len(batch.rejects) - batch.in_batch_conflicts,
        conflict_rows=conflict_rows,
    )


def conflict_row(
    path: str, key: str, line: int, file_id: int | None, raw: str, pointer: str = ""
) -> dict[str, Any]:
    """The rejects row of a record whose event_id is stored with another payload: its ``raw``
    is the record's payload (the stored one is the event's, found by the id in the message)."""
    return reject_row(
        file_id=file_id,
        path=path,
        line=line,
        pointer=pointer,
        reason=Reason.CONFLICT,
        message=f"event_id {key!r} is stored with a different payload; this record's "
        "payload is kept here, the stored event is unchanged",
        raw=raw,
        now=format_ms(datetime.now(UTC)),
    )


def checked_counts(
    batch: Batch, stored: Stored, file_id: int | None, path: str, *, dry_run: bool, verified: bool
) -> tuple[Counts, list[str]]:
    """A checked batch's counts, and the ids of stored events to mark verified.

    A record whose event the store lacks is one a dry run would insert; in a forced re-read it
    is one the ledger's run did not store (refused then, for instance for its signature where
    this run checks none), and it stays out: counted as rejected (``not_loaded``) and reported,
    not stored. ``verified``: this run verified the batch's tokens.
    """
    counts = Counts(
        duplicates=batch.in_batch_duplicates,
        conflicts=batch.in_batch_conflicts,
        rejected=len(batch.rejects) - batch.in_batch_conflicts,
    )
    upgrade = []
    for key in batch.events:
        payload, line = batch.payloads[key], batch.lines[key]
        pointer = batch.pointers.get(key, "")
        have = stored.get(key)
        if have is None:
            if dry_run:
                counts.inserted += 1
                continue
            counts.rejected += 1
            row = conflict_row(path, key, line, file_id, json_text(payload), pointer)
            row["reason"] = Reason.NOT_LOADED
            row["message"] = (
                f"event_id {key!r} is not in the store: the ledger's run of this file did not "
                "store it, and --force adds nothing"
            )
            counts.conflict_rows.append(row)
        elif payload is not None and have[0] != payload:  # None: a v2 id, from its content
            counts.conflicts += 1
            counts.conflict_rows.append(
                conflict_row(path, key, line, file_id, json_text(payload), pointer)
            )
        else:
            counts.duplicates += 1
            if verified and have[1] is not True:
                upgrade.append(key)
    return counts, upgrade


def rejected_record(row: dict[str, Any]) -> RejectedRecord:
    return RejectedRecord(
        row["path"], row["line"], row["pointer"], row["reason"], row["message"], row["raw"]
    )
