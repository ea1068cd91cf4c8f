"""When Identity Cloud attempts a delivery, and what an attempt's answer does: pure rules.

State and a time in, a decision out; no clock, no I/O. The world (:mod:`.world`) keeps each
event's ``due`` time and attempt count; the engine (:mod:`.delivery`) asks :func:`due_events`
what to send now and reports each answer back through :func:`after_attempt`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from migrate.simulator.model import FAILURE, RETRYING, SUCCESS, SimEvent, SimSubscription


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt leaves behind: the event's state and its next due time (None: done)."""

    state: str
    due: datetime | None


def delivered(status_code: int | None) -> bool:
    """A 2xx answer delivers; anything else (another status, a timeout, no connection) fails."""
    return status_code is not None and 200 <= status_code < 300


def after_attempt(
    round_attempts: int,
    status_code: int | None,
    at: datetime,
    delays: tuple[float, ...],
    max_attempts: int,
) -> Outcome:
    """The outcome of attempt number ``round_attempts`` (1-based, within its round) made at
    ``at``: success after a 2xx (never retried), else the next attempt ``delays[n-1]`` seconds
    later, until ``max_attempts`` attempts have failed."""
    if delivered(status_code):
        return Outcome(SUCCESS, None)
    if round_attempts >= max_attempts:
        return Outcome(FAILURE, None)
    delay = delays[min(round_attempts, len(delays)) - 1]
    return Outcome(RETRYING, at + timedelta(seconds=delay))


def deliverable(event: SimEvent, subscriptions: Mapping[str, SimSubscription]) -> bool:
    """Scheduled, not on the wire, and its subscription exists and is enabled (a disabled
    subscription's events wait; they resume when it is enabled again)."""
    sub = subscriptions.get(event.subscription_id)
    return (
        event.state == RETRYING
        and event.due is not None
        and not event.in_flight
        and sub is not None
        and sub.enabled
    )


def due_events(
    events: Iterable[SimEvent], subscriptions: Mapping[str, SimSubscription], now: datetime
) -> list[SimEvent]:
    """The events whose next attempt is due at ``now``, oldest due first."""
    chosen = [
        e for e in events if deliverable(e, subscriptions) and e.due is not None and e.due <= now
    ]
    return sorted(chosen, key=lambda e: (e.due or now, e.created_at, e.id))


def next_due(
    events: Iterable[SimEvent], subscriptions: Mapping[str, SimSubscription]
) -> datetime | None:
    """The earliest time anything is due (None: nothing will ever be sent without a change)."""
    times = [e.due for e in events if deliverable(e, subscriptions) and e.due is not None]
    return min(times) if times else None


def schedule_offsets(delays: tuple[float, ...], max_attempts: int) -> list[float]:
    """Seconds from the first attempt to each attempt when every one fails: [0, 3, 33, …]."""
    offsets = [0.0]
    for n in range(1, max_attempts):
        offsets.append(offsets[-1] + delays[min(n, len(delays)) - 1])
    return offsets
