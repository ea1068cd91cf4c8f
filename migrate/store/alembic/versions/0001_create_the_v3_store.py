"""create the v3 store

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Keep revisions self-contained: sqlalchemy types here, not the models, which move on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in migrate.store.models: SQLite autoincrements only INTEGER PRIMARY KEY; MySQL's DATETIME
# needs fsp=6 to keep fractions; JSON is JSONB on PostgreSQL; MySQL tables are utf8mb4 binary.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "ingest_files",
        sa.Column("id", ID, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("etag", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_line", sa.Integer(), server_default="0", nullable=False),
        sa.Column("read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("completed_at", UTC_TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('incomplete', 'completed')", name=op.f("ck_ingest_files_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_files")),
        sa.UniqueConstraint("sha256", "kind", name=op.f("uq_ingest_files_sha256_kind")),
        **MYSQL,
    )
    op.create_index(op.f("ix_ingest_files_etag"), "ingest_files", ["etag"])

    op.create_table(
        "summaries",
        sa.Column("id", ID, nullable=False),
        sa.Column("subscription_id", sa.String(255), nullable=True),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("retrying", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("exportable", sa.Integer(), nullable=False),
        sa.Column("fetched_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("raw", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summaries")),
        **MYSQL,
    )
    op.create_index(
        op.f("ix_summaries_subscription_id_updated_at"),
        "summaries",
        ["subscription_id", "updated_at"],
    )

    op.create_table(
        "events",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(2), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=True),
        sa.Column("entity_type", sa.Text(), nullable=True),
        sa.Column("entity_id", sa.String(255), nullable=True),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("issued_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("application_id", sa.Text(), nullable=True),
        sa.Column("global_sub", sa.Text(), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("audience", JSON, nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=True),
        sa.Column("event_object_id", sa.String(255), nullable=True),
        sa.Column("attributes", JSON, nullable=True),
        sa.Column("credential_type", sa.Text(), nullable=True),
        sa.Column("v2_hash", sa.Text(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("signature_verified", sa.Boolean(), nullable=True),
        sa.Column("first_seen_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("seen_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("first_file_id", ID, nullable=True),
        sa.Column("last_file_id", ID, nullable=True),
        sa.Column("first_line", sa.Integer(), nullable=True),
        sa.CheckConstraint("source IN ('v2', 'v3')", name=op.f("ck_events_source")),
        sa.CheckConstraint("seen_count >= 1", name=op.f("ck_events_seen_count")),
        sa.ForeignKeyConstraint(
            ["first_file_id"],
            ["ingest_files.id"],
            name=op.f("fk_events_first_file_id_ingest_files"),
        ),
        sa.ForeignKeyConstraint(
            ["last_file_id"], ["ingest_files.id"], name=op.f("fk_events_last_file_id_ingest_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
        **MYSQL,
    )
    op.create_index(op.f("ix_events_entity_id"), "events", ["entity_id"])
    op.create_index(op.f("ix_events_event_object_id"), "events", ["event_object_id"])
    op.create_index(op.f("ix_events_occurred_at"), "events", ["occurred_at"])
    op.create_index(op.f("ix_events_source_event_type"), "events", ["source", "event_type"])

    op.create_table(
        "rejects",
        sa.Column("id", ID, nullable=False),
        sa.Column("file_id", ID, nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("pointer", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["ingest_files.id"], name=op.f("fk_rejects_file_id_ingest_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejects")),
        sa.UniqueConstraint(
            "file_id", "line", "pointer", name=op.f("uq_rejects_file_id_line_pointer")
        ),
        **MYSQL,
    )
    op.create_index(op.f("ix_rejects_reason"), "rejects", ["reason"])

    op.create_table(
        "deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("observed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name=op.f("fk_deliveries_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_deliveries_fingerprint")),
        **MYSQL,
    )
    op.create_index(op.f("ix_deliveries_event_id"), "deliveries", ["event_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints with it, on every backend.
    for table in ("deliveries", "rejects", "events", "summaries", "ingest_files"):
        op.drop_table(table)
