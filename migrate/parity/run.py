"""``parity``: how many v2 events have their v3 counterpart in the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from migrate.parity.reading import read_bounds, read_entities
from migrate.parity.report import ParityReport, compare
from migrate.parity.window import (
    DEFAULT_MIN_AGE_S,
    DEFAULT_TOLERANCE_S,
    Window,
    choose_window,
)


@dataclass(frozen=True)
class ParityOptions:
    tolerance: timedelta = timedelta(seconds=DEFAULT_TOLERANCE_S)
    min_age: timedelta = timedelta(seconds=DEFAULT_MIN_AGE_S)
    since: datetime | None = None
    until: datetime | None = None
    details: bool = False


def parity_window(engine: Engine, options: ParityOptions, now: datetime | None = None) -> Window:
    cutoff = (now or datetime.now(UTC)) - options.min_age
    with engine.connect() as conn:
        bounds = read_bounds(conn, cutoff)
    return choose_window(
        bounds,
        cutoff=cutoff,
        tolerance=options.tolerance,
        since=options.since,
        until=options.until,
    )


def run_parity(
    engine: Engine, options: ParityOptions | None = None, now: datetime | None = None
) -> ParityReport:
    """Pair the store's v2 events with its v3 events (see ``migrate.parity.matching``)."""
    options = options or ParityOptions()
    window = parity_window(engine, options, now)
    with engine.connect() as conn:
        report = compare(
            read_entities(conn, window, with_ids=options.details),
            options.tolerance,
            details=options.details,
        )
    report.start, report.end = window.start, window.end
    return report
