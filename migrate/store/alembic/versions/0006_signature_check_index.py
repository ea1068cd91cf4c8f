"""events (source, event_type) index widened by signature_verified

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

checklist's signatures check counts the v3 events by ``signature_verified``; with the column
in the index it reads the index alone instead of every v3 row (~1.6 s for a million on SQLite).
The old index is a prefix of the new one, so replacing it keeps what used it (``status``'s
counts by source and kind) as fast, with no index more to keep up on every insert.

Keep revisions self-contained: sqlalchemy types here, not the models, which move on.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_events_source_event_type_signature_verified"),
        "events",
        ["source", "event_type", "signature_verified"],
    )
    op.drop_index(op.f("ix_events_source_event_type"), table_name="events")


def downgrade() -> None:
    op.create_index(op.f("ix_events_source_event_type"), "events", ["source", "event_type"])
    op.drop_index(op.f("ix_events_source_event_type_signature_verified"), table_name="events")
