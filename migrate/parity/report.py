"""Counting pairs into the parity report, entity by entity (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from migrate.parity.matching import match

UNKNOWN_KIND = "(unknown)"
"""The ``by_kind`` key of events whose kind is not known (v2 without ``--v2-kind``/route)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)

Event = tuple[int, str | None, str | None]
"""``(occurred_at in microseconds since the epoch, kind or None, event_id or None)``."""


def to_micros(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_US


def micros_text(micros: int) -> str:
    """The unified time format (UTC, milliseconds, ``Z``) of a time in epoch microseconds."""
    t = EPOCH + timedelta(microseconds=micros)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class KindCounts:
    v2_total: int = 0
    v3_total: int = 0
    matched: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "v2_total": self.v2_total,
            "v3_total": self.v3_total,
            "matched": self.matched,
            "v2_only": self.v2_total - self.matched,
            "v3_only": self.v3_total - self.matched,
            "coverage": coverage(self.matched, self.v2_total),
        }


def coverage(matched: int, v2_total: int) -> float | None:
    return None if v2_total == 0 else matched / v2_total


@dataclass
class ParityReport:
    """What ``parity`` prints. ``by_kind`` attributes a pair to the kind it shows (the v2 kind
    when known, else the v3 kind) and an unpaired event to its own kind, so that each kind's
    ``v2_total = matched + v2_only`` and ``v3_total = matched + v3_only``."""

    by_kind: dict[str, KindCounts] = field(default_factory=dict)
    unmatched: list[dict[str, Any]] | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def v2_total(self) -> int:
        return sum(k.v2_total for k in self.by_kind.values())

    @property
    def v3_total(self) -> int:
        return sum(k.v3_total for k in self.by_kind.values())

    @property
    def matched(self) -> int:
        return sum(k.matched for k in self.by_kind.values())

    @property
    def v2_only(self) -> int:
        return self.v2_total - self.matched

    @property
    def v3_only(self) -> int:
        return self.v3_total - self.matched

    @property
    def coverage(self) -> float | None:
        return coverage(self.matched, self.v2_total)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v2_total": self.v2_total,
            "v3_total": self.v3_total,
            "matched": self.matched,
            "v2_only": self.v2_only,
            "v3_only": self.v3_only,
            "coverage": self.coverage,
            "by_kind": {kind: self.by_kind[kind].to_json() for kind in sorted(self.by_kind)},
        }
        if self.unmatched is not None:
            data["unmatched"] = self.unmatched
        return data


class Tally:
    """Adds one entity's events at a time to a :class:`ParityReport`."""

    def __init__(self, tolerance_us: int, *, details: bool = False) -> None:
        self.tolerance_us = tolerance_us
        self.report = ParityReport(unmatched=[] if details else None)
        self._kinds = self.report.by_kind

    def _counts(self, kind: str | None) -> KindCounts:
        key = UNKNOWN_KIND if kind is None else kind
        counts = self._kinds.get(key)
        if counts is None:
            counts = self._kinds[key] = KindCounts()
        return counts

    def add(self, entity_id: str | None, v2: Sequence[Event], v3: Sequence[Event]) -> None:
        """One entity's events (``entity_id`` None: events without one, which never pair)."""
        if entity_id is None or not v2 or not v3:
            pairs: list[tuple[int, int]] = []
        else:
            pairs = match([(e[0], e[1]) for e in v2], [(e[0], e[1]) for e in v3], self.tolerance_us)
        paired2: set[int] = set()
        paired3: set[int] = set()
        for i, j in pairs:
            kind = v2[i][1] if v2[i][1] is not None else v3[j][1]
            counts = self._counts(kind)
            counts.v2_total += 1
            counts.v3_total += 1
            counts.matched += 1
            paired2.add(i)
            paired3.add(j)
        for source, events, paired in (("v2", v2, paired2), ("v3", v3, paired3)):
            for i, event in enumerate(events):
                if i in paired:
                    continue
                counts = self._counts(event[1])
                if source == "v2":
                    counts.v2_total += 1
                else:
                    counts.v3_total += 1
                if self.report.unmatched is not None:
                    self.report.unmatched.append(
                        {
                            "source": source,
                            "event_id": event[2],
                            "entity_id": entity_id,
                            "event_type": event[1],
                            "occurred_at": micros_text(event[0]),
                        }
                    )


def compare(
    entities: Iterable[tuple[str | None, Sequence[Event], Sequence[Event]]],
    tolerance: timedelta,
    *,
    details: bool = False,
) -> ParityReport:
    """The report for ``(entity_id, v2 events, v3 events)`` groups, one group per entity."""
    tally = Tally(tolerance // ONE_US, details=details)
    for entity_id, v2, v3 in entities:
        tally.add(entity_id, v2, v3)
    return tally.report
