"""``rejects retry``: run stored rejects through the current adapters and keys again.

What converts (and verifies) now is stored through :mod:`migrate.store.writes`, the one module
that writes events, and its reject is marked ``retried`` with the event it became, in the same
transaction. Only unresolved rejects are retried and the mark is conditional, so a reject
becomes an event once; an event the store already has (the same ``event_id`` came in another
way, with the same payload) is not stored again: the reject is settled as that event. One
stored with another payload is a conflict: the reject stays unresolved, the event unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from adapters.errors import Reason, Rejection
from adapters.unified import UnifiedEvent
from migrate.kinds import INPUT_KINDS, KINDS, V2Options, converter, kind_of
from migrate.readers import parse_json_bytes
from migrate.rejects.records import RETRIED, RejectRecord, iter_rejects, mark_resolved
from migrate.serve.v2 import ROUTES
from migrate.store.models import Base
from migrate.store.rows import check_storable
from migrate.store.writes import insert_events

TokenCheck = Callable[[Any], None]

NOT_RETRYABLE = "not_retryable"
"""The reason of a retry refused before converting: the record cannot be retried safely."""
SETTLED_OTHERWISE: dict[str, str] = {
    Reason.CONFLICT: "the stored event keeps its payload: settle it with `rejects resolve`",
    Reason.NOT_LOADED: "settle it with `rejects resolve`, or ingest its file again",
}
"""Rejects that are not records to retry: their ``raw`` is a payload (a token's decoded
claims), which read as another kind would be stored without its signature checked."""


@dataclass(frozen=True)
class RetryOptions:
    kind: str | None = None
    """The input kind to read raw records as; default: the kind of the file each came from."""
    v2: V2Options = field(default_factory=V2Options)
    verify: TokenCheck | None = None
    """Signature check for tokens; ``None`` with ``no_verify`` stores them unverified."""
    no_verify: bool = False
    by: str | None = None


@dataclass(frozen=True)
class RetryOutcome:
    reject_id: int
    status: str  # "stored", "duplicate", "rejected", "skipped"
    event_ids: tuple[str, ...] = ()
    reason: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.reject_id,
            "status": self.status,
            "event_ids": list(self.event_ids),
            "reason": self.reason,
            "message": self.message,
        }


def guess_kind(raw: str) -> str:
    """The input kind of a raw record that came from no file (the listener keeps rejects too)."""
    text = raw.strip()
    if not text.startswith(("{", "[")):
        return "set"
    try:
        value = parse_json_bytes(text.encode())
    except ValueError:
        return "v2"
    if isinstance(value, dict):
        if "request" in value:
            return "events"
        if "events" in value and "jti" in value:
            return "export"
    return "v2"


def _converter(kind: str, options: RetryOptions) -> Callable[[Any], UnifiedEvent]:
    """The adapter for ``kind``, verifying tokens first when keys are given (as ingest does)."""
    verifying = kind_of(kind).verifying
    if options.verify is None or verifying is None:
        return converter(kind, options.v2)
    return verifying(options.verify)


def needs_keys(kind: str) -> bool:
    return kind_of(kind).carries_tokens


def check_retryable(reject: RejectRecord, kind: str) -> None:
    """Raise :class:`Rejection` (``not_retryable``) for a reject that retrying as ``kind``
    could store unchecked: a conflict or ``not_loaded`` reject (settled otherwise), or a record
    that carries tokens read as a kind that carries none (its signature would go unchecked)."""
    how = SETTLED_OTHERWISE.get(reject.reason)
    if how is not None:
        raise Rejection(
            NOT_RETRYABLE, "", f"a {reject.reason} reject is not retried as a record; {how}"
        )
    original = reject.kind or guess_kind(reject.raw)
    if original in KINDS and KINDS[original].carries_tokens and not kind_of(kind).carries_tokens:
        raise Rejection(
            NOT_RETRYABLE,
            "",
            f"a {original} record carries signed tokens: --from {kind} would store it without "
            "checking its signature",
        )


def v2_options_for(reject: RejectRecord, v2: V2Options) -> V2Options:
    """``v2`` with the webhook's kind a listener reject's route gave (``/v2/update``: UPDATE),
    unless ``--v2-kind`` says it; a v2 notification does not say its kind itself."""
    if v2.kind is not None or reject.file_id is not None:
        return v2
    return replace(v2, kind=ROUTES.get(reject.path))


def convert_reject(reject: RejectRecord, options: RetryOptions) -> list[UnifiedEvent]:
    """The events a reject's raw record gives now; raises :class:`Rejection` if it still fails."""
    kind = options.kind or reject.kind or guess_kind(reject.raw)
    if kind not in INPUT_KINDS:
        raise Rejection("unsupported", "", f"cannot retry a record of kind {kind!r}")
    check_retryable(reject, kind)
    if needs_keys(kind) and options.verify is None and not options.no_verify:
        raise Rejection("no_keys", "", "tokens need --jwks (or an explicit --no-verify)")
    if kind == "v2":
        options = replace(options, v2=v2_options_for(reject, options.v2))
    convert = _converter(kind, options)
    if kind == "set":
        values: list[Any] = [reject.raw]
    else:
        try:
            value = parse_json_bytes(reject.raw.encode("utf-8", "surrogateescape"))
        except (ValueError, UnicodeError) as exc:
            raise Rejection("malformed_json", "", f"not JSON: {exc}") from None
        values = value if kind == "v2" and isinstance(value, list) else [value]
    events = [convert(v) for v in values]
    for event in events:
        check_storable(event)  # as ingest: U+0000 refused on every backend, lengths checked
    return events


def retry_rejects(
    engine: Engine,
    options: RetryOptions,
    *,
    ids: Sequence[int] | None = None,
    reason: str | None = None,
) -> list[RetryOutcome]:
    """Retry the unresolved rejects chosen by ``ids``/``reason`` (all of them by default)."""
    with engine.connect() as conn:
        chosen = list(iter_rejects(conn, ids=ids, reason=reason))
    outcomes = []
    for reject in chosen:
        if reject.resolution is not None:
            outcomes.append(RetryOutcome(reject.id, "skipped", message=f"already {reject.status}"))
            continue
        outcomes.append(_retry_one(engine, reject, options))
    return outcomes


def conflicting(conn: sa.Connection, events: Sequence[UnifiedEvent]) -> str | None:
    """The first of ``events`` whose event_id is stored with another payload, as ingest's
    conflict check finds them (a v2 event's id comes from its content: never a conflict)."""
    wanted = {e.event_id: e.payload for e in events if e.source != "v2"}
    if not wanted:
        return None
    table = Base.metadata.tables["events"]
    query = sa.select(table.c.event_id, table.c.payload).where(table.c.event_id.in_(wanted))
    for key, payload in conn.execute(query):
        if payload != wanted[key]:
            return str(key)
    return None


def _retry_one(engine: Engine, reject: RejectRecord, options: RetryOptions) -> RetryOutcome:
    try:
        events = convert_reject(reject, options)
    except Rejection as rejection:
        return RetryOutcome(
            reject.id, "rejected", reason=rejection.reason, message=rejection.message
        )
    kind = options.kind or reject.kind or guess_kind(reject.raw)
    verified = (options.verify is not None) if needs_keys(kind) else None
    with engine.connect() as conn, conn.begin() as transaction:
        clash = conflicting(conn, events)
        if clash is not None:
            transaction.rollback()
            return RetryOutcome(
                reject.id,
                "rejected",
                reason=Reason.CONFLICT,
                message=f"event_id {clash!r} is stored with a different payload; the stored "
                "event is unchanged (settle this reject with `rejects resolve`)",
            )
        inserted = insert_events(
            conn,
            events,
            verified=verified,
            file_id=reject.file_id,
            lines=[reject.line] * len(events) if reject.file_id is not None else None,
        )
        ids = tuple(e.event_id for e in events)
        settled = mark_resolved(
            conn,
            reject.id,
            resolution=RETRIED,
            by=options.by,
            note="stored on retry" if inserted.new else "already stored",
            event_id=ids[0] if ids else None,
        )
        if not settled:  # another retry got there first: leave its work as it is
            transaction.rollback()
            return RetryOutcome(reject.id, "skipped", message="settled meanwhile")
    return RetryOutcome(reject.id, "stored" if inserted.new else "duplicate", event_ids=ids)
