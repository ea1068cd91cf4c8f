"""The store's rejects: listing them, showing one, and settling them.

A reject is *unresolved* until ``rejects retry`` turns it into an event (``retried``) or
``rejects resolve`` accepts it as lost on purpose (``accepted``, with who and why). Settling
never deletes: the record, its reason and its raw text stay for the audit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from migrate.store.models import IngestFile, Reject, utc_now

RETRIED = "retried"
ACCEPTED = "accepted"


@dataclass(frozen=True)
class RejectRecord:
    id: int
    path: str
    line: int
    pointer: str
    reason: str
    message: str
    raw: str
    created_at: datetime
    file_id: int | None
    kind: str | None
    """The input kind of the file it came from (``v2``, ``set``, ...), when it came from one."""
    resolution: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    resolved_event_id: str | None

    @property
    def status(self) -> str:
        return self.resolution or "unresolved"

    def location(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.pointer or '(root)'}: {self.message} ({self.reason})"
        )

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "path": self.path,
            "line": self.line,
            "pointer": self.pointer,
            "reason": self.reason,
            "message": self.message,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "resolved_at": None if self.resolved_at is None else self.resolved_at.isoformat(),
            "resolved_by": self.resolved_by,
            "note": self.resolution_note,
            "event_id": self.resolved_event_id,
        }
        if raw:
            data["raw"] = self.raw
        return data


_COLUMNS = (
    Reject.id,
    Reject.path,
    Reject.line,
    Reject.pointer,
    Reject.reason,
    Reject.message,
    Reject.raw,
    Reject.created_at,
    Reject.file_id,
    IngestFile.kind,
    Reject.resolution,
    Reject.resolved_at,
    Reject.resolved_by,
    Reject.resolution_note,
    Reject.resolved_event_id,
)


def _query(
    *, reason: str | None = None, ids: Sequence[int] | None = None, unresolved: bool = False
) -> Any:
    query = select(*_COLUMNS).outerjoin(IngestFile, IngestFile.id == Reject.file_id)
    if reason is not None:
        query = query.where(Reject.reason == reason)
    if ids is not None:
        query = query.where(Reject.id.in_(list(ids)))
    if unresolved:
        query = query.where(Reject.resolution.is_(None))
    return query.order_by(Reject.id)


def iter_rejects(
    conn: Connection,
    *,
    reason: str | None = None,
    ids: Sequence[int] | None = None,
    unresolved: bool = False,
) -> Iterator[RejectRecord]:
    """Rejects in id order, streamed (a store may hold many)."""
    result = conn.execute(
        _query(reason=reason, ids=ids, unresolved=unresolved),
        execution_options={"stream_results": True, "yield_per": 1000},
    )
    for row in result:
        yield RejectRecord(*row)


def list_rejects(
    engine: Engine, *, reason: str | None = None, unresolved: bool = True
) -> list[RejectRecord]:
    with engine.connect() as conn:
        return list(iter_rejects(conn, reason=reason, unresolved=unresolved))


def get_reject(engine: Engine, reject_id: int) -> RejectRecord | None:
    with engine.connect() as conn:
        return next(iter_rejects(conn, ids=[reject_id]), None)


def count_unresolved(conn: Connection) -> dict[str, int]:
    """Unresolved rejects by reason."""
    rows = conn.execute(
        select(Reject.reason, func.count())
        .where(Reject.resolution.is_(None))
        .group_by(Reject.reason)
    ).all()
    return {reason: int(n) for reason, n in rows}


def mark_resolved(
    conn: Connection,
    reject_id: int,
    *,
    resolution: str,
    by: str | None,
    note: str | None,
    event_id: str | None = None,
) -> bool:
    """Settle one unresolved reject in the caller's transaction; False if it was settled already
    (by someone else meanwhile: the update is conditional, so a reject is settled once)."""
    result = conn.execute(
        update(Reject)
        .where(Reject.id == reject_id, Reject.resolution.is_(None))
        .values(
            resolution=resolution,
            resolved_at=utc_now(),
            resolved_by=by,
            resolution_note=note,
            resolved_event_id=event_id,
        )
    )
    return bool(result.rowcount)


@dataclass(frozen=True)
class Resolved:
    settled: tuple[int, ...]
    already: tuple[int, ...]
    missing: tuple[int, ...]


def resolve_rejects(engine: Engine, ids: Sequence[int], *, note: str, by: str) -> Resolved:
    """Accept rejects as lost on purpose, recording who and why (all or nothing)."""
    if not note.strip():
        raise ValueError("a note saying why is required")
    settled: list[int] = []
    already: list[int] = []
    with engine.begin() as conn:
        found = {r.id: r for r in iter_rejects(conn, ids=ids)}
        missing = tuple(i for i in ids if i not in found)
        if missing:
            return Resolved((), (), missing)
        for reject_id in dict.fromkeys(ids):
            if mark_resolved(conn, reject_id, resolution=ACCEPTED, by=by, note=note):
                settled.append(reject_id)
            else:
                already.append(reject_id)
    return Resolved(tuple(settled), tuple(already), ())
