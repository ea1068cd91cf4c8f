"""``parity``: v2 against v3 events in the store, event for event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from migrate.cli.base import db_option, emit_json, format_option
from migrate.cli.stores import reading_store
from migrate.errors import ProblemFound
from migrate.parity import ParityOptions, ParityReport, parse_moment, run_parity
from migrate.parity.window import DEFAULT_MIN_AGE_S, DEFAULT_TOLERANCE_S

F = Callable[..., Any]


class MomentType(click.ParamType[datetime]):
    """An RFC 3339 time, or a duration (``24h``) back from now."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value), datetime.now(UTC))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def window_options(func: F) -> F:
    """``--tolerance`` and ``--min-age``, which ``checklist`` shares."""
    func = click.option(
        "--min-age",
        type=click.FloatRange(min=0),
        default=DEFAULT_MIN_AGE_S,
        show_default=True,
        metavar="SECONDS",
        help="Events younger than this are still in flight and not counted.",
    )(func)
    return click.option(
        "--tolerance",
        type=click.FloatRange(min=0),
        default=DEFAULT_TOLERANCE_S,
        show_default=True,
        metavar="SECONDS",
        help="How far apart the v2 and v3 times of one change may be.",
    )(func)


def text_report(report: ParityReport) -> None:
    if report.start is not None and report.end is not None and report.start <= report.end:
        click.echo(f"window: {report.start.isoformat()} .. {report.end.isoformat()}")
    cov = "n/a" if report.coverage is None else f"{report.coverage:.4f}"
    click.echo(
        f"v2 {report.v2_total}, v3 {report.v3_total}, matched {report.matched}, "
        f"v2 only {report.v2_only}, v3 only {report.v3_only}, coverage {cov}"
    )
    width = max((len(k) for k in report.by_kind), default=4)
    for kind, counts in sorted(report.by_kind.items()):
        c = counts.to_json()
        kcov = "n/a" if c["coverage"] is None else f"{c['coverage']:.4f}"
        click.echo(
            f"  {kind:<{width}}  v2 {c['v2_total']:>8}  v3 {c['v3_total']:>8}  "
            f"matched {c['matched']:>8}  v2 only {c['v2_only']:>7}  v3 only {c['v3_only']:>7}  "
            f"coverage {kcov}"
        )
    for u in report.unmatched or ():
        click.echo(
            f"unmatched {u['source']} {u['occurred_at']} {u['event_type'] or '-'} "
            f"entity {u['entity_id']} event {u['event_id']}"
        )


@click.command()
@db_option
@click.option("--since", type=MomentType(), help="Count from this time (RFC 3339, or e.g. 24h).")
@click.option("--until", type=MomentType(), help="Count up to this time (inclusive).")
@window_options
@click.option("--details", is_flag=True, help="List every unmatched event.")
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 1),
    metavar="X",
    help="Exit 1 when coverage is below X (or there is nothing to compare).",
)
@format_option("text", "json")
def parity(
    db_url: str,
    since: datetime | None,
    until: datetime | None,
    tolerance: float,
    min_age: float,
    details: bool,
    min_coverage: float | None,
    output_format: str,
) -> None:
    """Pair every v2 event with its v3 counterpart: same entity, same kind when both know it,
    occurred within --tolerance. The pairing is a largest one; coverage = matched / v2 events.

    By default the window runs from the later of the two streams' first events to the earlier
    of their last events (widened by --tolerance); events younger than --min-age never count.
    """
    options = ParityOptions(
        tolerance=timedelta(seconds=tolerance),
        min_age=timedelta(seconds=min_age),
        since=since,
        until=until,
        details=details,
    )
    with reading_store(db_url) as engine:
        report = run_parity(engine, options)
    if output_format == "json":
        emit_json(report.to_json())
    else:
        text_report(report)
    if min_coverage is not None:
        if report.coverage is None:
            raise ProblemFound("no v2 events to compare: coverage is unknown")
        if report.coverage < min_coverage:
            raise ProblemFound(
                f"coverage {report.coverage:.4f} < {min_coverage} over {report.v2_total} "
                f"v2 events: {report.v2_only} have no v3 partner (see --details)"
            )
