"""``parity``: how many v2 events have their v3 counterpart in the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from migrate.parity.counting import Counts, fold
from migrate.parity.parallel import MIN_ROWS, count_in_two, usable_workers
from migrate.parity.reading import read_bounds, read_counts, read_entities
from migrate.parity.report import ONE_US, ParityReport, compare, report_of
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
    workers: int | None = None
    """Processes that count (without ``details``): 1 or 2; None: 2 when it helps (see
    :mod:`migrate.parity.parallel`)."""


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
    if options.details:  # every unpaired event listed: the pairing itself, entity by entity
        with engine.connect() as conn:
            report = compare(
                read_entities(conn, window, with_ids=True), options.tolerance, details=True
            )
    else:  # only counted (see migrate.parity.counting), on two cores when that helps
        report = report_of(fold(_counts(engine, window, options)))
    report.start, report.end = window.start, window.end
    return report


def _counts(engine: Engine, window: Window, options: ParityOptions) -> Counts:
    tolerance_us = options.tolerance // ONE_US
    workers = usable_workers() if options.workers is None else options.workers
    if workers >= 2 and not window.empty:
        counts = count_in_two(
            engine, window, tolerance_us, min_rows=0 if options.workers else MIN_ROWS
        )
        if counts is not None:
            return counts
    with engine.connect() as conn:
        return read_counts(conn, window, tolerance_us)
