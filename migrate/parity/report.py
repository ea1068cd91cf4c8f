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

Event = Sequence[Any]
"""``(occurred_at in microseconds since the epoch, kind or None, event_id or None, ...)``."""


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
    """Adds one entity's events at a time to a :class:`ParityReport`.

    Per kind it keeps ``[v2_total, v3_total, matched]`` keyed by the kind itself (``None``
    included) and folds them into :class:`KindCounts` once, at the end: this runs per event.
    """

    def __init__(self, tolerance_us: int, *, details: bool = False) -> None:
        self.tolerance_us = tolerance_us
        self.details = details
        self.unmatched: list[dict[str, Any]] = []
        self.counts: dict[str | None, list[int]] = {}

    def add(self, entity_id: str | None, v2: Sequence[Event], v3: Sequence[Event]) -> None:
        """One entity's events (``entity_id`` None: events without one, which never pair)."""
        counts = self.counts
        for event in v2:
            row = counts.get(event[1])
            if row is None:
                row = counts[event[1]] = [0, 0, 0]
            row[0] += 1
        for event in v3:
            row = counts.get(event[1])
            if row is None:
                row = counts[event[1]] = [0, 0, 0]
            row[1] += 1
        if entity_id is None or not v2 or not v3:
            pairs: list[tuple[int, int]] = []
        else:
            pairs = match(v2, v3, self.tolerance_us)
        for i, j in pairs:
            kind2 = v2[i][1]
            kind3 = v3[j][1]
            if kind2 == kind3:
                counts[kind2][2] += 1
            elif kind2 is None:  # shown as the kind its partner knows
                counts[None][0] -= 1
                row = counts[kind3]
                row[0] += 1
                row[2] += 1
            else:  # kind3 is None
                counts[None][1] -= 1
                row = counts[kind2]
                row[1] += 1
                row[2] += 1
        if self.details and len(pairs) < max(len(v2), len(v3)):
            self._unmatched(entity_id, v2, v3, pairs)

    def _unmatched(
        self,
        entity_id: str | None,
        v2: Sequence[Event],
        v3: Sequence[Event],
        pairs: list[tuple[int, int]],
    ) -> None:
        paired2 = {i for i, _ in pairs}
        paired3 = {j for _, j in pairs}
        for source, events, paired in (("v2", v2, paired2), ("v3", v3, paired3)):
            for i, event in enumerate(events):
                if i not in paired:
                    self.unmatched.append(
                        {
                            "source": source,
                            "event_id": event[2],
                            "entity_id": entity_id,
                            "event_type": event[1],
                            "occurred_at": micros_text(event[0]),
                        }
                    )

    @property
    def report(self) -> ParityReport:
        return report_of(self.counts, self.unmatched if self.details else None)


def report_of(
    counts: dict[str | None, list[int]], unmatched: list[dict[str, Any]] | None = None
) -> ParityReport:
    """The report of ``kind -> [v2_total, v3_total, matched]`` counts."""
    by_kind = {
        UNKNOWN_KIND if kind is None else kind: KindCounts(*row)
        for kind, row in counts.items()
        if any(row)
    }
    return ParityReport(by_kind=by_kind, unmatched=unmatched)


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
