"""``checklist``: is the dual-running cutover safe to finish?"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from migrate.checklist import (
    ChecklistSettings,
    ConfigError,
    junit_xml,
    run_checklist,
    settings_from,
    text_table,
)
from migrate.checklist.config import DEFAULT_CONFIG
from migrate.cli.base import db_option
from migrate.defaults import BASE_URL_ENV, CUSTOMER_ENV, SUBSCRIPTION_ENV
from migrate.errors import ProblemFound


@click.command()
@db_option
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"Settings file (TOML; default: ./{DEFAULT_CONFIG} when present). Options win.",
)
@click.option("--endpoint", metavar="URL", help="The listener's public URL (default: recorded).")
@click.option("--min-coverage", type=click.FloatRange(0, 1), help="Parity needed (0.999).")
@click.option("--min-events", type=click.IntRange(min=0), help="v2 events needed (100).")
@click.option("--window", metavar="DURATION", help="How recent v3 receipt must be (24h).")
@click.option("--tolerance", type=click.FloatRange(min=0), metavar="SECONDS", help="As parity.")
@click.option("--min-age", type=click.FloatRange(min=0), metavar="SECONDS", help="As parity.")
@click.option("--exports-dir", metavar="DIR", help="Downloaded export files (exports).")
@click.option("--strict/--no-strict", default=None, help="warn and skip block too.")
@click.option("--base-url", envvar=BASE_URL_ENV, help=f"API root (env {BASE_URL_ENV}).")
@click.option("--customer-id", envvar=CUSTOMER_ENV, help=f"env {CUSTOMER_ENV}")
@click.option("--subscription-id", envvar=SUBSCRIPTION_ENV, help=f"env {SUBSCRIPTION_ENV}")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="text: a table; json for scripts; junit for CI test reporters.",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here too."
)
def checklist(
    db_url: str,
    config: Path | None,
    output_format: str,
    output: Path | None,
    **options: object,
) -> None:
    """Check that v2 can be turned off: store, endpoint, subscriptions, receipt, signatures,
    rejects, parity, summary, exports. Exit 0 only when ready (no check fails; with --strict,
    none warns or skips either). API checks skip without API credentials (environment)."""
    try:
        settings: ChecklistSettings = settings_from(
            options, config=config, default_config=Path(DEFAULT_CONFIG)
        )
        settings.window_span  # noqa: B018 - a bad duration is a usage error, now
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from exc
    verdict = run_checklist(db_url, settings)
    if output_format == "json":
        rendered = json.dumps(verdict.to_json(), indent=2) + "\n"
        shown = rendered
    elif output_format == "junit":
        rendered = shown = junit_xml(verdict)
    else:
        rendered = text_table(verdict)
        shown = text_table(verdict, colour=True) if sys.stdout.isatty() else rendered
    click.echo(shown, nl=False)
    if output is not None:
        output.write_text(rendered, encoding="utf-8")
    if not verdict.ready:
        failing = [c.id for c in verdict.checks if c.status == "fail"] or [
            c.id for c in verdict.checks if c.status != "pass"
        ]
        raise ProblemFound(f"not ready: {', '.join(failing)}")
