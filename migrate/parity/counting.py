"""Counting a largest pairing without listing it: parity's hot loop when no details are asked.

Each entity's events (any order) are sorted by time and cut wherever two neighbours are more
than the tolerance apart. No pair can cross such a cut (every event between a pair's two times
is within the tolerance of its neighbours), so the pairing graph falls apart into these
*clusters* and a largest pairing of the entity is a largest pairing of each cluster, added up.
Dual running makes almost every cluster one event alone or a *couple* (two events: one pair
when the sources differ and the kinds are compatible). Those are only counted, by their
``(kind, source)`` signature, and :func:`fold` decides what they add up to: no per-event work
in Python beyond the cut. A larger cluster goes to :func:`migrate.parity.matching.match`, with
the whole entity's kinds and the store's order, so it is paired exactly as ``compare`` pairs
the entity (``tests/test_parity_counting.py`` checks the reports are equal).

The counters are plain dicts: the worker processes of :mod:`migrate.parity.parallel` add
theirs up.

A row's source travels inside its time, as ``micros * 4 + (0 for v2, 1 for v3)`` (the
database computes it): one column less to read per row, the costliest part of the read after
the time itself. Sorted by that code, an entity's events are in time order (ties v2 first),
and two neighbours are more than the tolerance apart exactly when their codes are more than
``4 * tolerance + 1`` apart: the difference of the codes is ``4 * dt`` plus -1, 0 or 1, and
``dt`` is a whole number of microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from migrate.parity.matching import match

Row = Sequence[Any]
"""``(code, kind, entity_id)``, ``code = micros * 4 + source`` (:data:`V2` or :data:`V3`):
what :func:`migrate.parity.reading.count_sql` reads."""

V2 = 0
V3 = 1
"""The source bit of a row's code (any source but ``v2`` counts as v3, as in the report)."""

_CODE = itemgetter(0)
_ENTITY = itemgetter(2)


def code(micros: int, source: str) -> int:
    """A row's first column: what the statements of :mod:`migrate.parity.reading` compute."""
    return micros * 4 + (V2 if source == "v2" else V3)


@dataclass
class Counts:
    """``singles``: events counted one by one, per ``(kind, source bit)``; ``couples``:
    clusters of two, per ``(kind, source bit, kind, source bit)`` in code order; ``pairs``:
    the pairs of larger clusters, per ``(v2 kind, v3 kind)`` (their events are in
    ``singles``)."""

    singles: dict[tuple[str | None, int], int] = field(default_factory=dict)
    couples: dict[tuple[str | None, int, str | None, int], int] = field(default_factory=dict)
    pairs: dict[tuple[str | None, str | None], int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        _add(self.singles, other.singles)
        _add(self.couples, other.couples)
        _add(self.pairs, other.pairs)


def _add(mine: dict[Any, int], theirs: dict[Any, int]) -> None:
    for key, n in theirs.items():
        mine[key] = mine.get(key, 0) + n


def count_rows(rows: Iterable[Row], tolerance: int, counts: Counts) -> None:
    """Count rows in entity order (one entity's rows together) into ``counts``."""
    for entity_id, group in groupby(rows, key=_ENTITY):
        if entity_id is None:  # events without an entity never pair
            count_entity(list(group), tolerance, counts, entity_id=None)
        else:
            count_entity(list(group), tolerance, counts)


def count_entity(
    events: list[Any], tolerance: int, counts: Counts, entity_id: str | None = ""
) -> None:
    """Count one entity's ``events`` (in the store's order) into ``counts`` (``entity_id``
    None: events without an entity, which never pair)."""
    if len(events) < 2 or entity_id is None:
        for a in events:
            key = (a[1], a[0] & 1)
            counts.singles[key] = counts.singles.get(key, 0) + 1
        return
    ordered = sorted(events, key=_CODE)
    ordered.append(_END)
    singles = counts.singles
    couples = counts.couples
    apart = 4 * tolerance + 1  # codes further apart than this: times beyond the tolerance
    start = 0  # where the current cluster began in ``ordered``
    previous = ordered[0][0]
    # A cluster is closed when the next one begins; the sentinel closes the last one.
    for i, event in enumerate(ordered):
        t = event[0]
        if t - previous > apart:
            size = i - start
            if size == 1:
                a = ordered[start]
                key = (a[1], a[0] & 1)
                singles[key] = singles.get(key, 0) + 1
            elif size == 2:
                a = ordered[start]
                b = ordered[start + 1]
                pair = (a[1], a[0] & 1, b[1], b[0] & 1)
                couples[pair] = couples.get(pair, 0) + 1
            else:
                _count_cluster(events, ordered[start:i], tolerance, counts)
            start = i
        previous = t


_END = (float("inf"),)
"""After the last event: ``t - previous > apart`` holds for it, closing the last cluster."""


def _count_cluster(events: list[Any], cluster: list[Any], tolerance: int, counts: Counts) -> None:
    """The pairs of a cluster, paired as :func:`match` pairs the whole entity: with the
    entity's kinds choosing the case, and each side in the store's order (which breaks ties).
    Rare (a few in ten thousand clusters): the rows are decoded to ``(micros, kind)`` here."""
    kinds = ({e[1] for e in events if not e[0] & 1}, {e[1] for e in events if e[0] & 1})
    members = {id(e) for e in cluster}
    v2 = [(e[0] >> 2, e[1]) for e in events if not e[0] & 1 and id(e) in members]
    v3 = [(e[0] >> 2, e[1]) for e in events if e[0] & 1 and id(e) in members]
    singles = counts.singles
    for e in cluster:
        key = (e[1], e[0] & 1)
        singles[key] = singles.get(key, 0) + 1
    pairs = counts.pairs
    for i, j in match(v2, v3, tolerance, kinds=kinds):
        pair = (v2[i][1], v3[j][1])
        pairs[pair] = pairs.get(pair, 0) + 1


def fold(counts: Counts) -> dict[str | None, list[int]]:
    """``kind -> [v2_total, v3_total, matched]`` as :class:`~migrate.parity.report.Tally`
    keeps it: a pair shows as the kind it knows (the v2 kind when known, else the v3 kind)."""
    totals = dict(counts.singles)
    pairs = dict(counts.pairs)
    for (kind_a, source_a, kind_b, source_b), n in counts.couples.items():
        for key in ((kind_a, source_a), (kind_b, source_b)):
            totals[key] = totals.get(key, 0) + n
        if source_a != source_b:
            pair = (kind_a, kind_b) if source_a == V2 else (kind_b, kind_a)
            if pair[0] == pair[1] or pair[0] is None or pair[1] is None:
                pairs[pair] = pairs.get(pair, 0) + n
    rows: dict[str | None, list[int]] = {}

    def row(kind: str | None) -> list[int]:
        found = rows.get(kind)
        if found is None:
            found = rows[kind] = [0, 0, 0]
        return found

    for (kind, source), n in totals.items():
        row(kind)[0 if source == V2 else 1] += n
    for (kind2, kind3), n in pairs.items():
        if kind2 == kind3:
            row(kind2)[2] += n
        elif kind2 is None:  # the v2 event shows as the kind its partner knows
            row(None)[0] -= n
            shown = row(kind3)
            shown[0] += n
            shown[2] += n
        else:  # kind3 is None
            row(None)[1] -= n
            shown = row(kind2)
            shown[1] += n
            shown[2] += n
    return rows
