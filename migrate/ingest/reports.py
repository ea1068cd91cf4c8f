"""What ingest is asked to do and what it reports: options, per-file and total counts, the
ledger row a file's progress is kept in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrate.convert import RejectedRecord
from migrate.errors import ProblemFound
from migrate.kinds import INGEST_KINDS as INGEST_KINDS
from migrate.kinds import TokenCheck, V2Options
from migrate.readers import DEFAULT_MAX_RECORD_BYTES

if TYPE_CHECKING:
    from migrate.archive.source import SqlSource

COMPLETED = "completed"
INCOMPLETE = "incomplete"

NO_KEY_SOURCE = "no key source is configured (--jwks or WEBHOOKS_MIGRATE_JWKS)"
NOT_APPLICABLE = "not applicable: the input carries no signatures"

BATCH = 1000
LARGE_BATCH = 5000
SPAN_ROWS = 50_000
SPAN_SECONDS = 3.0
# Producer processes on SQLite (with more than one core): parsing and staging a record costs
# more than writing it, so two producers keep one writer busy (see Interleaved).
PRODUCERS = 2


@dataclass(frozen=True, slots=True)
class IngestOptions:
    kind: str
    etag: str | None = None
    force: bool = False
    dry_run: bool = False
    batch_size: int | None = None
    """Records per batch; ``None``: the backend's default (``LARGE_BATCH`` on SQLite and PostgreSQL,
    ``BATCH`` on MariaDB)."""
    commit_rows: int | None = None
    """Commit (make progress durable) after about this many records; ``None``: the backend's
    default (``SPAN_ROWS`` on SQLite and PostgreSQL; every batch on MariaDB)."""
    v2: V2Options = field(default_factory=V2Options)
    verify: TokenCheck | None = None
    """Verify each token's signature (``set`` and ``events``); ``None`` stores them unverified."""
    unverified_because: str = NO_KEY_SOURCE
    """Said in the report when tokens are stored without verification (e.g. ``--no-verify``)."""
    show_progress: bool = False
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES
    on_reject: Callable[[RejectedRecord], None] | None = None
    source: SqlSource | None = None
    bulk: bool | None = None
    """Bulk mode (``migrate.ingest.bulk``): ``None`` chooses it for a large load into a store
    without events."""
    """``v2-sql``: the database the rows are read from (instead of files)."""


@dataclass(slots=True)
class FileReport:
    path: str
    sha256: str
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    """Records whose event_id is stored with a different payload (kept in rejects)."""
    rejected: int = 0
    already_ingested: bool = False
    resumed_from_line: int = 0
    unverified_removed: int = 0
    """Events stored unverified (``--no-verify``) that this run refused for their signature
    and removed from the store."""

    @property
    def empty(self) -> bool:
        """The file held no records (it gets no ledger row)."""
        return self.read == 0 and not self.already_ingested

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "already_ingested": self.already_ingested,
            "resumed_from_line": self.resumed_from_line,
            "unverified_removed": self.unverified_removed,
        }


@dataclass(slots=True)
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    verified: bool | None = None
    """True: every stored token's signature was verified; False: tokens were stored without
    verification (see ``signatures``); None: the input has no signatures (v2, export)."""
    signatures: str = NOT_APPLICABLE

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def conflicts(self) -> int:
        return sum(f.conflicts for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def unverified_removed(self) -> int:
        return sum(f.unverified_removed for f in self.files)

    def signature_summary(self) -> str:
        """What was done about signatures; when checked, how many tokens passed and how many
        were refused (for their signature or otherwise: see the rejects), never a bare
        "verified" for a run whose every token was refused."""
        if self.verified is not True:
            return self.signatures
        passed = self.inserted + self.duplicates + self.conflicts
        return f"checked against the keys: {passed} verified, {self.rejected} refused"

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "unverified_removed": self.unverified_removed,
            "signatures_verified": self.verified,
            "signatures": self.signature_summary(),
        }


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """A file's row in ``ingest_files``: where it stands and what it has counted so far."""

    id: int
    status: str
    last_line: int
    read: int
    inserted: int
    duplicates: int
    rejected: int
    """Rows this file put in rejects, conflicts included (``conflicts`` of them)."""
    conflicts: int = 0
    resume_key: str | None = None
    """A database source: the key of the last committed row (``migrate.archive.keys``)."""


def check_etag(path: str, etag: str, sha: str, others: list[str]) -> None:
    """Refuse a file whose ``--etag`` the ledger knows from different content (``others``: the
    sha256 of those files): the ledger matches on content, and an ETag that came back with other
    content means one of the downloads is not what it claims to be."""
    if others:
        raise ProblemFound(
            f"{path}: ETag {etag} was ingested before as content sha256 {others[0]}, but this "
            f"file's sha256 is {sha}; refused (check the download, or drop --etag)"
        )
