"""``schema diff|export|check``: JSON Schema compatibility for CI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from migrate.cli.base import emit_json, format_option
from migrate.errors import ProblemFound
from migrate.schemacompat import (
    Mode,
    Policy,
    SchemaLoadError,
    check_baseline,
    diff_files,
    export_schemas,
    is_compatible,
)
from migrate.schemacompat.report import change_json, change_line, summary

F = Callable[..., Any]


def mode_option(default: Mode) -> Callable[[F], F]:
    return click.option(
        "--mode",
        type=click.Choice([m.value for m in Mode]),
        default=default.value,
        show_default=True,
        help="backward: documents valid under OLD stay valid under NEW; forward: the reverse; "
        "full: both.",
    )


def policy_option(func: F) -> F:
    return click.option(
        "--policy",
        type=click.Choice([p.value for p in Policy]),
        default=Policy.STRICT.value,
        show_default=True,
        help="lenient assumes documents carry no properties their schema leaves unconstrained "
        "and readers fill in defaults; it turns uncheckable changes into warnings.",
    )(func)


@click.group()
def schema() -> None:
    """JSON Schema compatibility checks for CI (Confluent Schema Registry semantics).

    Exit codes: 0 compatible, 1 a breaking change (or an unreadable/invalid schema),
    2 usage error.
    """


@schema.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@mode_option(Mode.BACKWARD)
@policy_option
@format_option("text", "json")
def diff(old: Path, new: Path, mode: str, policy: str, output_format: str) -> None:
    """Compare two JSON Schema files (draft 2020-12 or draft-07).

    Prints one line per change, ``BREAKING|warning|ok KIND #POINTER: description``, then a
    summary. $refs resolve against the files beside each schema and the shipped schemas.
    Exit 1 if any change breaks the chosen mode.
    """
    chosen_mode, chosen_policy = Mode(mode), Policy(policy)
    try:
        changes = diff_files(old, new)
    except SchemaLoadError as exc:
        raise ProblemFound(str(exc)) from exc
    compatible = is_compatible(changes, chosen_mode, chosen_policy)
    if output_format == "json":
        emit_json(
            {
                "compatible": compatible,
                "mode": chosen_mode.value,
                "policy": chosen_policy.value,
                "old": str(old),
                "new": str(new),
                "changes": [change_json(c, chosen_mode, chosen_policy) for c in changes],
            }
        )
    else:
        for change in changes:
            click.echo(change_line(change, chosen_mode, chosen_policy))
        click.echo(summary(changes, chosen_mode, chosen_policy))
    if not compatible:
        raise ProblemFound(f"{new} is not {chosen_mode} compatible with {old}")


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write the shipped schemas into DIRECTORY: the baseline to commit.

    Schema files in DIRECTORY that are no longer shipped are deleted, so the directory
    mirrors exactly what ships. Run it deliberately, when a schema change is intended.
    """
    result = export_schemas(directory)
    for name in result.removed:
        click.echo(f"removed {directory / name} (no longer shipped)", err=True)
    click.echo(f"exported {len(result.written)} schemas to {directory}", err=True)


@schema.command("check")
@click.option(
    "--baseline",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory written by `schema export` and committed.",
)
@mode_option(Mode.FULL)
@policy_option
@format_option("text", "json")
def check(baseline: Path, mode: str, policy: str, output_format: str) -> None:
    """Compare the shipped schemas with a committed baseline, file by file.

    OLD is the baseline, NEW is what ships. A schema missing from the baseline is added
    (fine); a baseline schema no longer shipped is removed (breaking). The default mode is
    full: the shipped schemas describe both input we accept and the unified event we emit.
    """
    chosen_mode, chosen_policy = Mode(mode), Policy(policy)
    try:
        results = check_baseline(baseline)
    except SchemaLoadError as exc:
        raise ProblemFound(str(exc)) from exc
    compatible = all(r.compatible(chosen_mode, chosen_policy) for r in results)
    every_change = [c for r in results for c in r.changes]
    if output_format == "json":
        emit_json(
            {
                "compatible": compatible,
                "mode": chosen_mode.value,
                "policy": chosen_policy.value,
                "baseline": str(baseline),
                "files": [
                    {
                        "file": r.file,
                        "status": r.status,
                        "compatible": r.compatible(chosen_mode, chosen_policy),
                        "changes": [change_json(c, chosen_mode, chosen_policy) for c in r.changes],
                    }
                    for r in results
                ],
            }
        )
    else:
        for result in results:
            for change in result.changes:
                click.echo(f"{result.file}: {change_line(change, chosen_mode, chosen_policy)}")
        subject = f"{len(results)} schema files against {baseline}"
        click.echo(summary(every_change, chosen_mode, chosen_policy, subject))
    if not compatible:
        raise ProblemFound(f"the shipped schemas are not {chosen_mode} compatible with {baseline}")
