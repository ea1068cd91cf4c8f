"""The v3 store's tables as SQLAlchemy 2.0 typed ORM models.

The same models run on SQLite, PostgreSQL and MariaDB/MySQL. Three details make that true:

* :class:`UTCDateTime` stores UTC with microseconds everywhere (MySQL's plain ``DATETIME`` would
  drop the fraction) and always hands back aware UTC datetimes;
* :data:`JSONValue` is ``JSON`` (JSONB on PostgreSQL) whose Python ``None`` is SQL ``NULL``;
* every MySQL/MariaDB table is ``utf8mb4`` with a binary collation, so that ``event_id`` values
  differing only in case are different events there too, as they are on the other two.

A bounded ``String`` is used only where an index needs one (MySQL cannot index ``TEXT``); free
text from the input is ``Text`` so that no backend refuses or truncates what another accepts.
The Alembic revisions in ``alembic/versions`` build exactly these tables; ``db check`` proves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from migrate.store.fingerprint import delivery_fingerprint
from migrate.store.urls import MYSQL_NAMES

# Constraint and index names are part of the schema that migrations refer to, so they are
# derived by one rule rather than left to each backend's own naming.
NAMING_CONVENTION: dict[str, str] = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

# SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

JSONValue = JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp with microsecond precision on every backend.

    Naive datetimes are refused: their zone is a guess. PostgreSQL keeps ``timestamptz``;
    MySQL/MariaDB (``DATETIME(6)``) and SQLite (text) keep the UTC wall time without a zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL_NAMES:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} has no time zone; use UTC")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IngestFile(Base):
    """One input file loaded (or being loaded): the ledger that makes ``ingest`` resumable."""

    __tablename__ = "ingest_files"
    __table_args__ = (
        UniqueConstraint("sha256", "kind"),
        Index(None, "etag"),
        CheckConstraint("status IN ('incomplete', 'completed')", name="status"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    last_line: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    inserted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rejected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, onupdate=utc_now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A database source (ingest --from v2-sql): the key of the last committed row, as
    # migrate.archive.keys writes it; NULL for files, which resume by last_line.
    resume_key: Mapped[str | None] = mapped_column(Text)


def _first_seen_at(context: ExecutionContext) -> datetime:
    # An event seen once was first and last seen at the same instant, to the microsecond.
    first = context.get_current_parameters().get("first_seen_at")  # type: ignore[attr-defined]
    return first if isinstance(first, datetime) else utc_now()


class Event(Base):
    """One unified event (``adapters.unified.UnifiedEvent``), kept once however often seen."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("event_id"),
        # parity reads every event in (entity, kind, time) order from this index alone, and
        # finds each stream's first and last event with the next one.
        Index(None, "entity_id", "event_type", "occurred_at", "source"),
        Index(None, "source", "occurred_at"),
        Index(None, "occurred_at"),
        Index(None, "event_object_id"),
        # status counts events by source and kind, and checklist's signatures check counts
        # v3 events by signature_verified, from this index alone.
        Index(None, "source", "event_type", "signature_verified"),
        CheckConstraint("source IN ('v2', 'v3')", name="source"),
        CheckConstraint("seen_count >= 1", name="seen_count"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(2))
    event_type: Mapped[str | None] = mapped_column(String(255))
    entity_type: Mapped[str | None] = mapped_column(Text)
    entity_id: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client_id: Mapped[str | None] = mapped_column(Text)
    application_id: Mapped[str | None] = mapped_column(Text)
    global_sub: Mapped[str | None] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[list[str]] = mapped_column(JSONValue)
    transaction_id: Mapped[str | None] = mapped_column(Text)
    event_object_id: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[list[str] | None] = mapped_column(JSONValue)
    credential_type: Mapped[str | None] = mapped_column(Text)
    v2_hash: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    # NULL: nothing to verify (v2, export lines) or not checked; true: verified; false: --no-verify.
    signature_verified: Mapped[bool | None] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_first_seen_at)
    seen_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # NULL for events that did not come from a file (the listener).
    first_file_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("ingest_files.id"))
    last_file_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("ingest_files.id"))
    first_line: Mapped[int | None] = mapped_column(Integer)


class Reject(Base):
    """An input record that did not become an event, kept whole with where and why."""

    __tablename__ = "rejects"
    __table_args__ = (
        # A resumed run re-reads at most one batch; this makes its rejects land once.
        UniqueConstraint("file_id", "line", "pointer"),
        Index(None, "reason"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("ingest_files.id"))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    pointer: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Settled by ``rejects retry`` (it became an event) or ``rejects resolve`` (accepted as
    # lost on purpose, by whom and why); NULL while it still needs someone's attention.
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_event_id: Mapped[str | None] = mapped_column(String(255))


def _fingerprint_default(context: ExecutionContext) -> str:
    return delivery_fingerprint(context.get_current_parameters())  # type: ignore[attr-defined]


class Delivery(Base):
    """The delivery state of an event as one read of the v3 events store saw it.

    Uniqueness is on ``fingerprint`` rather than on the observed columns themselves because
    ``record_id`` and ``updated_at`` may be NULL, and NULLs never collide in a unique constraint
    on any of the three backends: re-reading such a record would add a row each time.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("fingerprint"),
        Index(None, "event_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), ForeignKey("events.event_id"))
    record_id: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    endpoint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    fingerprint: Mapped[str] = mapped_column(String(64), default=_fingerprint_default)


class Summary(Base):
    """One ``/summary`` snapshot of a subscription's event counts."""

    __tablename__ = "summaries"
    __table_args__ = (Index(None, "subscription_id", "updated_at"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    total: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    retrying: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    exportable: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONValue)


class Setting(Base):
    """A small key/value record of how the store is used (``listener.audience``, ...)."""

    __tablename__ = "settings"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, onupdate=utc_now)
