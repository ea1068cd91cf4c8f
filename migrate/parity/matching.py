"""The largest pairing of one entity's v2 events with its v3 events: pure, no I/O.

A v2 event and a v3 event may pair when their times are at most ``tolerance`` apart and their
kinds are compatible: equal, or either one unknown (``None``). Each event pairs at most once,
and the pairing returned is a *largest* one (a maximum bipartite matching). Three cases:

* **One compatibility class** (every v2 event is compatible with every v3 event: all v2 kinds
  unknown, or all v3 kinds unknown, or a single known kind between them): the sorted
  two-pointer sweep below is optimal. Proof (exchange): let ``a`` be the earliest v2 event and
  ``b`` the earliest v3 event not too early for it (a v3 event more than ``tolerance`` before
  ``a`` is too early for every later v2 event too). If ``b`` is too late for ``a``, ``a`` pairs
  with nothing. Otherwise a largest pairing that pairs ``a``-``b'`` and ``a'``-``b`` can pair
  ``a``-``b`` and ``a'``-``b'`` instead (``a <= a'`` and ``b <= b'`` keep ``b'`` within ``a'``'s
  window), so pairing ``a``-``b`` first loses nothing.
* **Every kind known on both sides**: the classes do not meet, so the sweep runs per kind.
* **Mixed** (some unknown kinds next to several known ones): the per-kind sweeps and then an
  unknown-kind sweep give a first pairing, which augmenting paths (Kuhn's algorithm, one search
  per unpaired v2 event) make largest: by Berge's theorem a pairing with no augmenting path is
  maximum, and a v2 event with no augmenting path never gets one after later augmentations.

``tests/test_parity_properties.py`` checks the result against a brute-force maximum matching.
Events are any sequences whose items 0 and 1 are the time (an integer, any unit) and the kind.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from typing import Any

Side = Sequence[Sequence[Any]]
"""One entity's events of one source: ``(time, kind, ...)`` each."""


def compatible(kind2: str | None, kind3: str | None) -> bool:
    return kind2 is None or kind3 is None or kind2 == kind3


def sweep(
    t2: Sequence[int],
    order2: Sequence[int],
    t3: Sequence[int],
    order3: Sequence[int],
    tolerance: int,
) -> list[tuple[int, int]]:
    """Largest pairing of v2 events ``order2`` with v3 events ``order3`` (indexes, each in time
    order; ``t2``/``t3``: the times by index), all compatible: index pairs."""
    pairs: list[tuple[int, int]] = []
    i = j = 0
    n, m = len(order2), len(order3)
    while i < n and j < m:
        a = order2[i]
        b = order3[j]
        d = t3[b] - t2[a]
        if d < -tolerance:
            j += 1
        elif d > tolerance:
            i += 1
        else:
            pairs.append((a, b))
            i += 1
            j += 1
    return pairs


def _by_kind(side: Side) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = {}
    for i, event in enumerate(side):
        group = groups.get(event[1])
        if group is None:
            groups[event[1]] = [i]
        else:
            group.append(i)
    return groups


def match(
    v2: Side, v3: Side, tolerance: int, *, kinds: tuple[set[Any], set[Any]] | None = None
) -> list[tuple[int, int]]:
    """A largest pairing of ``v2`` with ``v3`` as ``(v2 index, v3 index)`` pairs.

    ``kinds``: the v2 and v3 kinds that choose the case below, by default those of ``v2`` and
    ``v3``. :mod:`migrate.parity.counting` passes a whole entity's kinds with a part of its
    events, so that the part is paired as it is when the entity is paired at once.
    """
    if not v2 or not v3:
        return []
    if kinds is None:
        kinds2 = {e[1] for e in v2}
        kinds3 = {e[1] for e in v3}
    else:
        kinds2, kinds3 = kinds
    every = kinds2 | kinds3
    t2 = [e[0] for e in v2]
    t3 = [e[0] for e in v3]
    if len(every) == 1 or kinds2 == {None} or kinds3 == {None} or len(every - {None}) == 1:
        if len(t2) == 1 and len(t3) == 1:  # the most common entity: one change, both streams
            return [(0, 0)] if abs(t2[0] - t3[0]) <= tolerance else []
        order2 = sorted(range(len(t2)), key=t2.__getitem__)
        return sweep(t2, order2, t3, sorted(range(len(t3)), key=t3.__getitem__), tolerance)
    groups2 = _by_kind(v2)
    groups3 = _by_kind(v3)
    if None not in every:
        pairs: list[tuple[int, int]] = []
        for kind, indexes in groups2.items():
            others = groups3.get(kind)
            if others:
                indexes.sort(key=t2.__getitem__)
                others.sort(key=t3.__getitem__)
                pairs += sweep(t2, indexes, t3, others, tolerance)
        return pairs
    return _augmented(v2, v3, tolerance, t2, t3, groups2, groups3)


def _augmented(
    v2: Side,
    v3: Side,
    tolerance: int,
    t2: list[int],
    t3: list[int],
    groups2: dict[Any, list[int]],
    groups3: dict[Any, list[int]],
) -> list[tuple[int, int]]:
    partner3: dict[int, int] = {}  # v3 index -> v2 index
    partner2: dict[int, int] = {}
    for kind, indexes in groups2.items():
        others = groups3.get(kind)
        if kind is None or not others:
            continue
        indexes.sort(key=t2.__getitem__)
        others.sort(key=t3.__getitem__)
        for a, b in sweep(t2, indexes, t3, others, tolerance):
            partner2[a], partner3[b] = b, a
    order = sorted(range(len(t3)), key=t3.__getitem__)
    lone2 = sorted(groups2.get(None, []), key=t2.__getitem__)
    free3 = [j for j in order if j not in partner3]
    for a, b in sweep(t2, lone2, t3, free3, tolerance):
        partner2[a], partner3[b] = b, a
    if len(partner2) == len(t2) or len(partner3) == len(t3):
        return sorted(partner2.items())  # nothing left to augment

    times = [t3[j] for j in order]

    def neighbours(i: int) -> list[int]:
        t, kind = t2[i], v2[i][1]
        lo = bisect_left(times, t - tolerance)
        hi = bisect_right(times, t + tolerance)
        return [order[k] for k in range(lo, hi) if compatible(kind, v3[order[k]][1])]

    for start in range(len(v2)):
        if start in partner2:
            continue
        # Breadth-first search for an augmenting path from ``start``.
        came_from: dict[int, int] = {}  # v3 index -> the v2 index it was reached from
        queue = deque([start])
        end: int | None = None
        while queue and end is None:
            i = queue.popleft()
            for j in neighbours(i):
                if j in came_from:
                    continue
                came_from[j] = i
                if j not in partner3:
                    end = j
                    break
                queue.append(partner3[j])
        while end is not None:  # flip the path
            i = came_from[end]
            previous = partner2.get(i)
            partner2[i], partner3[end] = end, i
            end = previous
    return sorted(partner2.items())
