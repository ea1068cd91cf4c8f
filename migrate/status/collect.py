"""The store's contents, counted by SQL aggregates (no row is loaded but the ledger's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, inspect, or_, select

from migrate.store.presence import StoreNotSetUp, require_set_up


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class StoreStatus:
    database: str
    revision: str | None
    head: str
    events: list[dict[str, Any]] = field(default_factory=list)
    streams: list[dict[str, Any]] = field(default_factory=list)
    last_v3_received: str | None = None
    unverified_v3: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)
    deliveries: int = 0
    summaries: int = 0

    @property
    def total_events(self) -> int:
        return sum(row["count"] for row in self.streams)

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "revision": {
                "current": self.revision,
                "head": self.head,
                "at_head": self.revision == self.head,
            },
            "events": {
                "total": self.total_events,
                "by_source_and_kind": self.events,
                "streams": self.streams,
                "last_v3_received": self.last_v3_received,
                "unverified_v3": self.unverified_v3,
            },
            "files": self.files,
            "rejects": {"total": sum(self.rejects.values()), "by_reason": self.rejects},
            "deliveries": self.deliveries,
            "summaries": self.summaries,
        }


def read_status(url: str) -> StoreStatus:
    """Everything ``status`` shows about the store at ``url``.

    Raises :class:`~migrate.store.presence.StoreMissing` for a SQLite file that does not exist
    and :class:`~migrate.store.presence.StoreNotSetUp` for a store without tables; creates nothing.
    """
    require_set_up(url)
    from migrate.store.engine import check_connection, make_engine, safe_url
    from migrate.store.revision import shipped_head, stored_revision

    engine = make_engine(url)
    try:
        check_connection(engine)
        status = StoreStatus(
            database=safe_url(url), revision=stored_revision(engine), head=shipped_head()
        )
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if "events" not in tables:
                raise StoreNotSetUp(status.database)
            _events(conn, status)
            if "ingest_files" in tables:
                status.files = _files(conn)
            if "rejects" in tables:
                status.rejects = _rejects(conn)
            status.deliveries = _count(conn, "deliveries", tables)
            status.summaries = _count(conn, "summaries", tables)
        return status
    finally:
        engine.dispose()


def _events(conn: Connection, status: StoreStatus) -> None:
    from migrate.store.models import Event

    first, last = func.min(Event.occurred_at), func.max(Event.occurred_at)
    by_kind = (
        select(Event.source, Event.event_type, func.count(), first, last)
        .group_by(Event.source, Event.event_type)
        .order_by(Event.source, Event.event_type)
    )
    for source, event_type, count, earliest, latest in conn.execute(by_kind):
        status.events.append(
            {
                "source": source,
                "event_type": event_type,
                "count": count,
                "occurred_from": rfc3339(earliest),
                "occurred_to": rfc3339(latest),
            }
        )
    by_source = (
        select(Event.source, func.count(), first, last)
        .group_by(Event.source)
        .order_by(Event.source)
    )
    status.streams = [
        {
            "source": source,
            "count": count,
            "occurred_from": rfc3339(earliest),
            "occurred_to": rfc3339(latest),
        }
        for source, count, earliest, latest in conn.execute(by_source)
    ]
    status.last_v3_received = rfc3339(
        conn.execute(select(func.max(Event.first_seen_at)).where(Event.source == "v3")).scalar()
    )
    unverified = (
        select(Event.signature_verified, func.count())
        .where(Event.source == "v3")
        .where(or_(Event.signature_verified.is_(None), Event.signature_verified.is_(False)))
        .group_by(Event.signature_verified)
    )
    counts = {row[0]: row[1] for row in conn.execute(unverified)}
    not_checked, not_verified = counts.get(None, 0), counts.get(False, 0)
    status.unverified_v3 = {
        "total": not_checked + not_verified,
        "never_checked": not_checked,
        "no_verify": not_verified,
    }


def _files(conn: Connection) -> list[dict[str, Any]]:
    from migrate.store.models import IngestFile as F

    query = select(
        F.path,
        F.sha256,
        F.etag,
        F.kind,
        F.status,
        F.read,
        F.inserted,
        F.duplicates,
        F.rejected,
        F.started_at,
        F.completed_at,
    ).order_by(F.id)
    return [
        {
            "path": row.path,
            "sha256": row.sha256,
            "etag": row.etag,
            "kind": row.kind,
            "status": row.status,
            "read": row.read,
            "inserted": row.inserted,
            "duplicates": row.duplicates,
            "rejected": row.rejected,
            "started_at": rfc3339(row.started_at),
            "completed_at": rfc3339(row.completed_at),
        }
        for row in conn.execute(query)
    ]


def _rejects(conn: Connection) -> dict[str, int]:
    from migrate.store.models import Reject

    query = select(Reject.reason, func.count()).group_by(Reject.reason).order_by(Reject.reason)
    return {row[0]: int(row[1]) for row in conn.execute(query)}


def _count(conn: Connection, name: str, tables: set[str]) -> int:
    if name not in tables:
        return 0
    from sqlalchemy import table

    return int(conn.execute(select(func.count()).select_from(table(name))).scalar() or 0)
