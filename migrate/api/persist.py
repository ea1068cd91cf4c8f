"""The only place the API side touches the store: summary snapshots and loading downloads.

Kept apart so the client, the simulator and the recover loop import neither SQLAlchemy nor the
store; :class:`StoreSink` is what the commands hand to :func:`migrate.api.recover.recover`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from adapters.timefmt import parse_rfc3339
from migrate.api.models import Summary
from migrate.api.recover import IngestCounts
from migrate.ingest import IngestOptions, ingest_paths
from migrate.store import open_store
from migrate.store.models import Summary as SummaryRow

EXPORT_KIND = "export"


def save_summary(
    engine: sa.Engine, subscription_id: str, summary: Summary, fetched_at: datetime
) -> bool:
    """Store a ``/summary`` snapshot; False when the newest one stored already says the same.

    The API recomputes its summary at most once a day, so most calls see the same snapshot:
    storing it again would only repeat a row.
    """
    updated = parse_rfc3339(summary.updated_at)
    with engine.begin() as conn:
        latest = conn.execute(
            sa.select(SummaryRow.raw)
            .where(
                SummaryRow.subscription_id == subscription_id,
                SummaryRow.updated_at == updated,
            )
            .order_by(SummaryRow.id.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.raw == summary.raw:
            return False
        conn.execute(
            sa.insert(SummaryRow).values(
                subscription_id=subscription_id,
                updated_at=updated,
                total=summary.total,
                succeeded=summary.succeeded,
                retrying=summary.retrying,
                failed=summary.failed,
                exportable=summary.exportable,
                fetched_at=fetched_at,
                raw=summary.raw,
            )
        )
    return True


def ingest_download(engine: sa.Engine, path: Path, etag: str | None) -> IngestCounts:
    """Load a downloaded export file through the ingest ledger (a file already loaded, by
    sha256 or ETag, is skipped and reported ``already_ingested``)."""
    report = ingest_paths(engine, [str(path)], IngestOptions(kind=EXPORT_KIND, etag=etag))
    (file,) = report.files
    return IngestCounts(
        read=file.read,
        inserted=file.inserted,
        duplicates=file.duplicates,
        rejected=file.rejected,
        already_ingested=file.already_ingested,
    )


class StoreSink:
    """The store as the recover loop sees it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> StoreSink:
        return cls(open_store(url, upgrade=upgrade))

    def save_summary(self, subscription_id: str, summary: Summary, fetched_at: datetime) -> bool:
        return save_summary(self.engine, subscription_id, summary, fetched_at)

    def ingest(self, path: Path, etag: str | None) -> IngestCounts:
        return ingest_download(self.engine, path, etag)

    def close(self) -> None:
        self.engine.dispose()
