"""parity's indexes, settled rejects, and the settings table

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01

Keep revisions self-contained: sqlalchemy types here, not the models, which move on.

* ``events``: ``(entity_id, event_type, occurred_at, source)`` lets ``parity`` read the whole
  store in the order it pairs events from one index (it replaces the index on ``entity_id``
  alone, its prefix); ``(source, occurred_at)`` finds each stream's first and last event.
* ``rejects``: how a reject was settled (``retried``: it became ``resolved_event_id``;
  ``accepted``: lost on purpose), when, by whom and why.
* ``settings``: key/value facts about the store (the listener's public URL, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

REJECT_COLUMNS = (
    ("resolution", sa.String(16)),
    ("resolved_at", UTC_TIMESTAMP),
    ("resolved_by", sa.Text()),
    ("resolution_note", sa.Text()),
    ("resolved_event_id", sa.String(255)),
)


def upgrade() -> None:
    op.create_index(
        op.f("ix_events_entity_id_event_type_occurred_at_source"),
        "events",
        ["entity_id", "event_type", "occurred_at", "source"],
    )
    op.drop_index(op.f("ix_events_entity_id"), table_name="events")
    op.create_index(op.f("ix_events_source_occurred_at"), "events", ["source", "occurred_at"])
    for name, type_ in REJECT_COLUMNS:
        op.add_column("rejects", sa.Column(name, type_, nullable=True))
    op.create_table(
        "settings",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("settings")
    with op.batch_alter_table("rejects") as batch:  # SQLite drops columns by copying the table
        for name, _ in reversed(REJECT_COLUMNS):
            batch.drop_column(name)
    op.drop_index(op.f("ix_events_source_occurred_at"), table_name="events")
    op.create_index(op.f("ix_events_entity_id"), "events", ["entity_id"])
    op.drop_index(op.f("ix_events_entity_id_event_type_occurred_at_source"), table_name="events")
