"""Events for parity tests: written into a store directly, and a brute-force maximum matching."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from migrate.store.models import Event as EventRow

BASE = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ev:
    source: str
    entity_id: str | None
    kind: str | None
    at: datetime
    event_id: str = ""

    def with_id(self) -> Ev:
        if self.event_id:
            return self
        return Ev(self.source, self.entity_id, self.kind, self.at, str(uuid.uuid4()))


def store_events(engine: Engine, events: Iterable[Ev]) -> list[Ev]:
    """Insert the events as unified rows; returns them with their event ids."""
    stored = [e.with_id() for e in events]
    rows = [
        {
            "event_id": e.event_id,
            "source": e.source,
            "event_type": e.kind,
            "entity_id": e.entity_id,
            "occurred_at": e.at,
            "audience": [],
            "payload": {},
            "signature_verified": True if e.source == "v3" else None,
        }
        for e in stored
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(EventRow), rows)
    return stored


def compatible(kind2: str | None, kind3: str | None) -> bool:
    return kind2 is None or kind3 is None or kind2 == kind3


def brute_force_maximum(
    v2: Sequence[tuple[int, str | None]], v3: Sequence[tuple[int, str | None]], tolerance: int
) -> int:
    """The size of a maximum matching, by trying every assignment (small inputs only)."""

    def best(i: int, used: frozenset[int]) -> int:
        if i == len(v2):
            return 0
        result = best(i + 1, used)  # v2[i] unpaired
        t, kind = v2[i]
        for j, (u, kind3) in enumerate(v3):
            if j not in used and abs(t - u) <= tolerance and compatible(kind, kind3):
                result = max(result, 1 + best(i + 1, used | {j}))
        return result

    return best(0, frozenset())


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)
