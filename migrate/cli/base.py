"""What every command shares: exit codes, one-line errors, output formats, store URL options."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from migrate.defaults import DEFAULT_STORE_URL, STORE_URL_ENV

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3

DB_ENV = STORE_URL_ENV
DEFAULT_DB = DEFAULT_STORE_URL

T = TypeVar("T")


class ProblemFound(click.ClickException):
    """The command ran and found something the user must act on (exit 1)."""

    exit_code = EXIT_PROBLEM


class OperationalFailure(click.ClickException):
    """The store or the API could not be used (exit 3)."""

    exit_code = EXIT_OPERATIONAL


def fail_cleanly(run: Callable[[], T], ctx: click.Context) -> T:
    """Run a command; turn unexpected exceptions into one line on stderr unless ``--debug``."""
    try:
        return run()
    except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if _debug(ctx):
            raise
        if is_operational(exc):
            raise OperationalFailure(one_line(exc)) from exc
        raise OperationalFailure(
            f"internal error: {type(exc).__name__}: {one_line(exc)} (run with --debug for details)"
        ) from exc


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("debug"))


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] if text else type(exc).__name__


def is_operational(exc: BaseException) -> bool:
    """Connection and I/O failures are operational (exit 3), not bugs.

    SQLAlchemy and sqlite3 are consulted only if the command already imported them, to keep
    start-up light (a SQLite ``ingest`` talks to sqlite3 directly, without SQLAlchemy).
    """
    if isinstance(exc, OSError):
        return True
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.OperationalError):
        return True
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(
        exc, sqlalchemy_exc.OperationalError | sqlalchemy_exc.InterfaceError
    )


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--db URL``, else $WEBHOOKS_MIGRATE_DB, else a SQLite file in the working directory."""
    return click.option(
        "--db",
        "db_url",
        envvar=DB_ENV,
        default=DEFAULT_DB,
        show_default=True,
        metavar="URL",
        help=f"SQLAlchemy URL of the v3 store (env {DB_ENV}).",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable[..., Any]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format; json is stable for scripts and CI.",
    )


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
