"""``validate``: check files against the shipped JSON Schemas."""

from __future__ import annotations

import click

from migrate.cli.base import emit_json, format_option
from migrate.cli.options import allow_empty, input_files, max_record_bytes, refuse_empty
from migrate.errors import ProblemFound
from migrate.validate import VALIDATE_KINDS, Problem, validate_files
from migrate.words import counted


@click.command()
@input_files
@click.option(
    "--as",
    "kind",
    metavar="KIND",
    required=True,
    type=click.Choice(VALIDATE_KINDS),
    help="What the files hold: v2, set, export, events, summary (a /summary reply), unified.",
)
@max_record_bytes
@allow_empty
@format_option("text", "json")
def validate(
    files: tuple[str, ...], kind: str, max_record_bytes: int, allow_empty: bool, output_format: str
) -> None:
    """Check FILE... against the JSON Schema for KIND.

    Prints each problem as 'file:line: JSON-pointer: message' (text) or a JSON report.
    Exit 1 when any record is invalid.
    """
    found: list[Problem] = []

    def on_problem(problem: Problem) -> None:
        if output_format == "json":
            found.append(problem)
        else:
            click.echo(problem.location())

    counts = validate_files(files, kind, on_problem, max_bytes=max_record_bytes)
    if output_format == "json":
        emit_json(
            {
                "kind": kind,
                "valid": counts.invalid == 0,
                "records": counts.records,
                "invalid": counts.invalid,
                "problems": [p.to_json() for p in found],
            }
        )
    else:
        click.echo(
            f"{counted(counts.records, 'record')} checked, {counts.invalid} invalid, "
            f"{counted(counts.problems, 'problem')}",
            err=True,
        )
    refuse_empty(counts.records, allow_empty, files)
    if counts.invalid:
        raise ProblemFound(
            f"{counts.invalid} of {counted(counts.records, 'record')} "
            f"{'is' if counts.invalid == 1 else 'are'} invalid"
        )
