"""ingest_files.resume_key: where an import from a database resumes

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01

Keep revisions self-contained: sqlalchemy types here, not the models, which move on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ingest_files", sa.Column("resume_key", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN on every backend (SQLite 3.35+): a batch rebuild would
    # drop ingest_files, which the events' foreign keys refer to.
    op.drop_column("ingest_files", "resume_key")
