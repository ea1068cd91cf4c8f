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
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence

Side = Sequence[tuple[int, str | None]]
"""One entity's events of one source as ``(time, kind)``, times in any integer unit."""


def compatible(kind2: str | None, kind3: str | None) -> bool:
    return kind2 is None or kind3 is None or kind2 == kind3


def sweep(
    v2: Sequence[tuple[int, int]], v3: Sequence[tuple[int, int]], tolerance: int
) -> list[tuple[int, int]]:
    """Largest pairing of time-sorted ``(time, index)`` lists, all compatible: index pairs."""
    pairs: list[tuple[int, int]] = []
    i = j = 0
    n, m = len(v2), len(v3)
    while i < n and j < m:
        t2 = v2[i][0]
        t3 = v3[j][0]
        if t3 < t2 - tolerance:
            j += 1
        elif t3 > t2 + tolerance:
            i += 1
        else:
            pairs.append((v2[i][1], v3[j][1]))
            i += 1
            j += 1
    return pairs


def _sorted(side: Side, indexes: Sequence[int]) -> list[tuple[int, int]]:
    return sorted((side[i][0], i) for i in indexes)


def _by_kind(side: Side) -> dict[str | None, list[int]]:
    groups: dict[str | None, list[int]] = {}
    for i, (_, kind) in enumerate(side):
        groups.setdefault(kind, []).append(i)
    return groups


def match(v2: Side, v3: Side, tolerance: int) -> list[tuple[int, int]]:
    """A largest pairing of ``v2`` with ``v3`` as ``(v2 index, v3 index)`` pairs."""
    if not v2 or not v3:
        return []
    kinds2 = _by_kind(v2)
    kinds3 = _by_kind(v3)
    known = (kinds2.keys() | kinds3.keys()) - {None}
    if set(kinds2) == {None} or set(kinds3) == {None} or len(known) <= 1:
        return sweep(_sorted(v2, range(len(v2))), _sorted(v3, range(len(v3))), tolerance)
    if None not in kinds2 and None not in kinds3:
        pairs: list[tuple[int, int]] = []
        for kind, indexes in kinds2.items():
            others = kinds3.get(kind)
            if others:
                pairs += sweep(_sorted(v2, indexes), _sorted(v3, others), tolerance)
        return pairs
    return _augmented(v2, v3, tolerance, kinds2, kinds3)


def _augmented(
    v2: Side,
    v3: Side,
    tolerance: int,
    kinds2: dict[str | None, list[int]],
    kinds3: dict[str | None, list[int]],
) -> list[tuple[int, int]]:
    partner3: dict[int, int] = {}  # v3 index -> v2 index
    partner2: dict[int, int] = {}
    for kind, indexes in kinds2.items():
        if kind is None:
            continue
        for a, b in sweep(_sorted(v2, indexes), _sorted(v3, kinds3.get(kind, ())), tolerance):
            partner2[a], partner3[b] = b, a
    free2 = [i for i in range(len(v2)) if i not in partner2]
    free3 = [j for j in range(len(v3)) if j not in partner3]
    lone2 = [i for i in free2 if v2[i][1] is None]
    for a, b in sweep(_sorted(v2, lone2), _sorted(v3, free3), tolerance):
        partner2[a], partner3[b] = b, a

    order = sorted(range(len(v3)), key=lambda j: v3[j][0])
    times = [v3[j][0] for j in order]

    def neighbours(i: int) -> list[int]:
        t, kind = v2[i]
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
