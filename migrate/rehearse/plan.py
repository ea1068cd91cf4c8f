"""The dual stream as a timeline on the simulator's clock (pure: changes and faults in, points out).

Changes are published in small chunks at the time their last change happened, so that each token
is signed when its change occurs (``iat`` right after ``toe``, as in life) and never in the
future of the listener's wall clock. ``listener-down`` adds switches: the listener goes down at
the time of one change and comes back at a later time. Between points the delivery engine runs
under its compressed clock (retries fall due; a day of them takes seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from migrate.rehearse.faults import ONE_IN, SKEW_SECONDS, chosen
from migrate.simulator import Change

CHUNK: Final = 32
"""Changes published at once (the delivery engine sends up to 8 at a time)."""
LAST_RETRY_AFTER: Final = timedelta(hours=26)
"""Past the sixth attempt of the last event (3 s + 30 s + 5 min + 1 h + 24 h after the first)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    at: datetime
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Switch:
    at: datetime
    up: bool


Point = Chunk | Switch


@dataclass(frozen=True, slots=True)
class Outage:
    first: int
    """Index of the first change published while the listener is down."""
    until: datetime
    """When it is up again (by the simulator's clock)."""


@dataclass(frozen=True, slots=True)
class StreamPlan:
    points: tuple[Point, ...]
    outages: tuple[Outage, ...]
    v3_skipped: frozenset[int]
    """Changes that never become v3 events (``drop-v3``; every one with ``no-subscription``)."""
    forged: frozenset[int]
    """Changes whose v3 token is signed by an unknown key (``bad-signature``)."""
    toe_offset: int


def outages_for(changes: Sequence[Change]) -> tuple[Outage, ...]:
    """``listener-down``: down from 45 % to 50 % of the stream (a few minutes: the retries
    bring those events in), then from 95 % until a day after the last change (those events
    fail six times and come back in the bulk export)."""
    n = len(changes)
    if n < 4:
        return ()
    short_first, short_end = int(n * 0.45), max(int(n * 0.45) + 1, int(n * 0.50))
    long_first = max(short_end + 1, int(n * 0.95))
    if long_first >= n:
        long_first = n - 1
    outages = [Outage(short_first, changes[short_end].occurred)]
    outages.append(Outage(long_first, changes[-1].occurred + LAST_RETRY_AFTER))
    return tuple(outages)


def plan_stream(changes: Sequence[Change], faults: frozenset[str], seed: int) -> StreamPlan:
    outages = outages_for(changes) if "listener-down" in faults else ()
    starts = {o.first for o in outages}
    points: list[Point] = []
    chunk: list[Change] = []

    def flush() -> None:
        if chunk:
            points.append(Chunk(chunk[-1].occurred, tuple(chunk)))
            chunk.clear()

    for index, change in enumerate(changes):
        if index in starts or len(chunk) >= CHUNK:
            flush()
        if index in starts:
            points.append(Switch(change.occurred, up=False))
        chunk.append(change)
    flush()
    for outage in outages:
        points.append(Switch(outage.until, up=True))
    # Stable: a switch up at a chunk's time comes first (the listener is back for it).
    points.sort(key=lambda p: (p.at, 0 if isinstance(p, Switch) else 1))
    indexes = range(len(changes))
    skipped: frozenset[int] = frozenset()
    if "no-subscription" in faults:
        skipped = frozenset(indexes)
    elif "drop-v3" in faults:
        skipped = frozenset(i for i in indexes if chosen(seed, "drop-v3", i, ONE_IN))
    forged: frozenset[int] = frozenset()
    if "bad-signature" in faults:
        forged = frozenset(
            i for i in indexes if i not in skipped and chosen(seed, "forged", i, ONE_IN)
        )
    return StreamPlan(
        points=tuple(points),
        outages=outages,
        v3_skipped=skipped,
        forged=forged,
        toe_offset=SKEW_SECONDS if "clock-skew" in faults else 0,
    )


def v2_duplicated(seed: int, post_index: int) -> bool:
    """A v2 post sent twice (its answer was lost, v2 retried): one in 50."""
    return chosen(seed, "v2-duplicate", post_index, 50)


def stream_start(changes_span: timedelta, now: datetime, settle: timedelta) -> datetime:
    """When the first change happens: the last one is ``settle`` old at ``now``."""
    return (now - settle - changes_span).replace(microsecond=0)
