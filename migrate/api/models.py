"""Typed views of the API's JSON: summaries, export jobs, events, HAL pages.

Each keeps the document it came from in ``raw`` so nothing the API sends is lost when printed
as JSON, and so fields this client does not know about still reach the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from adapters import schema_registry as schemas
from adapters.timefmt import parse_rfc3339
from migrate.api.errors import ProtocolError

RETENTION_DAYS = 7


def links_of(document: Any) -> dict[str, str]:
    """``_links`` as relation → href (HAL); anything malformed is ignored."""
    out: dict[str, str] = {}
    links = document.get("_links") if isinstance(document, dict) else None
    if isinstance(links, dict):
        for rel, link in links.items():
            if isinstance(link, dict) and isinstance(link.get("href"), str):
                out[rel] = link["href"]
    return out


def _check(schema: str, what: str, data: Any) -> None:
    problem = schemas.explain(schema, data)
    if problem is not None:
        raise ProtocolError(
            f"unexpected {what} from the API: {problem.pointer or '/'}: {problem.message}"
        )


@dataclass(frozen=True, slots=True)
class Summary:
    """``/summary``: event counts over the last 7 days, refreshed by the API at most daily."""

    updated_at: str
    total: int
    succeeded: int
    retrying: int
    failed: int
    exportable: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Summary:
        _check(schemas.SUMMARY, "summary", data)
        return cls(
            updated_at=data["updatedAt"],
            total=data["total"],
            succeeded=data["succeeded"],
            retrying=data["retrying"],
            failed=data["failed"],
            exportable=data["exportable"],
            raw=data,
        )

    def invariant_problems(self) -> list[str]:
        """What the documented invariants say is wrong with these counts (empty: consistent)."""
        problems = []
        parts = self.succeeded + self.retrying + self.failed
        if self.total != parts:
            problems.append(
                f"total ({self.total}) != succeeded + retrying + failed "
                f"({self.succeeded} + {self.retrying} + {self.failed} = {parts})"
            )
        if self.exportable > self.failed:
            problems.append(f"exportable ({self.exportable}) > failed ({self.failed})")
        return problems

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "succeeded": self.succeeded,
            "retrying": self.retrying,
            "failed": self.failed,
            "exportable": self.exportable,
        }


class JobPhase(StrEnum):
    """What an export job's state means for its file."""

    ACTIVE = "active"  # still being written: poll
    FINISHED = "finished"  # the file should be downloadable
    CANCELED = "canceled"  # there will never be a file
    FAILED = "failed"  # there will never be a file


# The docs show "processing"/"active" and "canceled" only; the completed word is not shown.
# The other words are what a job API plausibly says; any word not listed is taken as finished
# (the download then tells the truth), and reported as unrecognised.
_ACTIVE_STATES = frozenset(
    {"processing", "active", "pending", "queued", "running", "started", "in_progress"}
)
_CANCELED_STATES = frozenset({"canceled", "cancelled"})
_FAILED_STATES = frozenset({"failed", "failure", "error", "errored"})
_FINISHED_STATES = frozenset(
    {"completed", "complete", "succeeded", "success", "done", "finished", "ready", "available"}
)


def phase_of(state: str) -> tuple[JobPhase, bool]:
    """(phase, recognised) for a state word; unknown words count as finished, unrecognised."""
    word = state.strip().lower()
    if word in _ACTIVE_STATES:
        return JobPhase.ACTIVE, True
    if word in _CANCELED_STATES:
        return JobPhase.CANCELED, True
    if word in _FAILED_STATES:
        return JobPhase.FAILED, True
    return JobPhase.FINISHED, word in _FINISHED_STATES


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One bulk export job; its id is also the id of its download file."""

    id: str
    state: str
    created_at: str | None
    updated_at: str | None
    links: dict[str, str] = field(compare=False)
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ExportJob:
        _check(schemas.EXPORT_JOB, "export job", data)
        return cls(
            id=data["id"],
            state=data["state"],
            created_at=data.get("createdAt"),
            updated_at=data.get("updatedAt"),
            links=links_of(data),
            raw=data,
        )

    @property
    def phase(self) -> JobPhase:
        return phase_of(self.state)[0]

    @property
    def state_recognised(self) -> bool:
        return phase_of(self.state)[1]

    def created(self) -> datetime | None:
        return _when(self.created_at)

    def finished_at(self) -> datetime | None:
        """When the file was written, as far as the job says (``updatedAt`` once finished)."""
        return _when(self.updated_at) or self.created()

    def describe_state(self) -> str:
        if self.state_recognised:
            return self.state
        return f"{self.state!r} (not a state word this tool knows; taken as finished)"


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One events-store record (the token inside stays encoded, as the API keeps it)."""

    id: str
    state: str
    attempts: int
    event_type: str | None
    created_at: str | None
    updated_at: str | None
    links: dict[str, str] = field(compare=False)
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> EventRecord:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ProtocolError("unexpected event record from the API: no string 'id'")
        attempts = data.get("attempts")
        return cls(
            id=data["id"],
            state=str(data.get("state", "")),
            attempts=attempts if isinstance(attempts, int) else 0,
            event_type=data.get("eventType"),
            created_at=data.get("createdAt"),
            updated_at=data.get("updatedAt"),
            links=links_of(data),
            raw=data,
        )
