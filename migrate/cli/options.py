"""Options shared by the commands that read input files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from migrate.defaults import V2_HASH_ENV
from migrate.errors import ProblemFound
from migrate.kinds import INPUT_KINDS, V2Options
from migrate.readers import DEFAULT_MAX_RECORD_BYTES

F = Callable[..., Any]


def input_files(func: F) -> F:
    return click.argument(
        "files",
        nargs=-1,
        required=True,
        type=click.Path(allow_dash=True, dir_okay=False, exists=True),
    )(func)


def from_kind(func: F) -> F:
    return click.option(
        "--from",
        "kind",
        required=True,
        type=click.Choice(INPUT_KINDS),
        help="v2 notifications, set tokens, bulk-export lines, or events-store records.",
    )(func)


def v2_options(func: F) -> F:
    func = click.option(
        "--v2-hash",
        envvar=V2_HASH_ENV,
        metavar="HASH",
        help=f"The v2 webhook's callback hash; notifications carrying another are rejected "
        f"(env {V2_HASH_ENV}).",
    )(func)
    return click.option(
        "--v2-kind",
        type=click.Choice(["ADD", "UPDATE", "DELETE"], case_sensitive=False),
        help="The v2 webhook's kind, which v2 notifications do not carry (sets event_type).",
    )(func)


def max_record_bytes(func: F) -> F:
    return click.option(
        "--max-record-bytes",
        type=click.IntRange(min=1024),
        default=DEFAULT_MAX_RECORD_BYTES,
        show_default=True,
        help="Records larger than this are rejected (too_large) without being held in memory.",
    )(func)


def quiet(func: F) -> F:
    return click.option("--quiet", "-q", is_flag=True, help="No progress display.")(func)


def make_v2_options(v2_kind: str | None, v2_hash: str | None) -> V2Options:
    return V2Options(kind=v2_kind, expected_hash=v2_hash or None)  # type: ignore[arg-type]


def allow_empty(func: F) -> F:
    return click.option(
        "--allow-empty",
        is_flag=True,
        help="Accept an input with no records (by default a warning and exit 1: an empty "
        "download must not pass).",
    )(func)


def refuse_empty(records: int, allowed: bool, files: tuple[str, ...] | list[str]) -> None:
    """Warn about an input with no records and, unless ``allowed``, exit 1."""
    if records:
        return
    names = ", ".join("<stdin>" if f == "-" else f for f in files)
    click.echo(f"warning: no records in {names}", err=True)
    if not allowed:
        raise ProblemFound("no records read (an empty input); --allow-empty accepts it")
