"""What every command shares: the one place errors become exit codes and one line on stderr,
the typed context, output formats and warnings, the store options and the API connection.

Errors (see :mod:`migrate.errors`): a :class:`~migrate.errors.MigrateError` prints its message
and exits with its class's code; Ctrl-C exits 130 (with what was committed, where a command
says); a closed pipe ends quietly with 141, as standard tools do; anything else is a bug in this
tool: exit 70 with one line, the traceback under ``--debug``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from migrate.defaults import (
    BASE_URL_ENV,
    CUSTOMER_ENV,
    DEFAULT_STORE_URL,
    STORE_URL_ENV,
    SUBSCRIPTION_ENV,
)
from migrate.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_SOFTWARE,
    Interrupted,
    ProblemFound,
    exit_code_of,
    one_line,
)

if TYPE_CHECKING:
    from migrate.api.client import ApiClient
    from migrate.api.persist import StoreSink

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


# -- the context every command runs in -------------------------------------------------------


@dataclass(slots=True)
class CliState:
    """What the root command sets up for every subcommand (``ctx.obj``)."""

    debug: bool = False


def cli_state(ctx: click.Context | None = None) -> CliState:
    """The :class:`CliState` of the running command (a default one outside a command line)."""
    ctx = ctx or click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, CliState) else CliState()


# -- errors: the one place they become exit codes ----------------------------------------------


def fail_cleanly(run: Callable[[], T], ctx: click.Context) -> T:
    """Run a command; every failure ends as one stderr line and its exit code."""
    try:
        return run()
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise  # click's own: usage errors (2), explicit exits, declined confirmations
    except BrokenPipeError:
        end_quietly_on_closed_pipe()
    except KeyboardInterrupt:
        _exit(ctx, EXIT_INTERRUPTED, "interrupted")
    except Interrupted as exc:
        _exit(ctx, exc.exit_status, f"interrupted: {exc}")
    except Exception as exc:
        code = exit_code_of(exc)
        if cli_state(ctx).debug:
            traceback.print_exc()
        if code == EXIT_SOFTWARE:
            _exit(
                ctx,
                code,
                f"internal error: {type(exc).__name__}: {one_line(exc)} "
                "(a bug in webhooks-migrate; run with --debug for the traceback)",
            )
        _exit(ctx, code, f"Error: {one_line(exc)}")


def _exit(ctx: click.Context, code: int, line: str) -> NoReturn:
    with contextlib.suppress(BrokenPipeError):  # stderr closed as well
        click.echo(line, err=True)
    ctx.exit(code)


def end_quietly_on_closed_pipe() -> NoReturn:
    """The reader went away (``| head``): no message, the SIGPIPE status, no flush error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


# -- output ------------------------------------------------------------------------------------


def format_option(*choices: str, default: str = "text") -> Callable[..., Any]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format; json is stable for scripts and CI.",
    )


json_format = format_option("text", "json")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def emit(output_format: str, data: Any, lines: Iterable[str]) -> None:
    """``data`` as JSON with ``--format json``, else the text ``lines``, one per line."""
    if output_format == "json":
        emit_json(data)
        return
    for line in lines:
        click.echo(line)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


# -- the store -----------------------------------------------------------------------------------


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--db URL``, else $WEBHOOKS_MIGRATE_DB, else a SQLite file in the working directory."""
    return click.option(
        "--db",
        "db_url",
        envvar=STORE_URL_ENV,
        default=DEFAULT_STORE_URL,
        show_default=True,
        metavar="URL",
        help=f"SQLAlchemy URL of the v3 store (env {STORE_URL_ENV}).",
    )(func)


def store_options(func: F) -> F:
    """``--db`` and ``--no-upgrade``."""
    func = click.option(
        "--no-upgrade", is_flag=True, help="Do not bring the store to the newest revision."
    )(func)
    return db_option(func)  # type: ignore[return-value]


@contextlib.contextmanager
def opened_store(db_url: str, no_upgrade: bool) -> Iterator[StoreSink]:
    # Imported here: commands that never touch the store do not pay for SQLAlchemy.
    from migrate.api.persist import StoreSink

    sink = StoreSink.open(db_url, upgrade=not no_upgrade)
    try:
        yield sink
    finally:
        sink.close()


# -- the Webhooks v3 API -------------------------------------------------------------------------


def connection(
    *, subscription: bool = True, lazy: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--base-url, --customer-id, --timeout, --tries and (usually) --subscription-id, env-backed.

    The command gets ``client``, the :class:`ApiClient` those options make (with ``lazy``,
    ``connect``: a function that makes it, for commands that may not call the API at all), and
    ``subscription_id`` as given. Every API failure, making the client included, goes through
    :func:`api_errors`.
    """
    from migrate.api.client import DEFAULT_BASE_URL

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @api_errors
        @functools.wraps(func)
        def command(
            *args: Any, base_url: str, customer_id: str, timeout: float, tries: int, **kwargs: Any
        ) -> Any:
            def connect() -> ApiClient:
                return make_client(base_url, customer_id, timeout, tries)

            if lazy:
                kwargs["connect"] = connect
            else:
                kwargs["client"] = connect()
            return func(*args, **kwargs)

        options = [
            click.option(
                "--base-url",
                envvar=BASE_URL_ENV,
                default=DEFAULT_BASE_URL,
                show_default=True,
                help=f"API root (env {BASE_URL_ENV}); http:// only for loopback.",
            ),
            click.option(
                "--customer-id", envvar=CUSTOMER_ENV, default="", help=f"env {CUSTOMER_ENV}"
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0.1),
                default=30.0,
                show_default=True,
                help="Seconds to wait for the network on each request.",
            ),
            click.option(
                "--tries",
                type=click.IntRange(min=1),
                default=5,
                show_default=True,
                help="Tries per request on network errors, 5xx and 429 (with back-off).",
            ),
        ]
        if subscription:
            options.append(
                click.option(
                    "--subscription-id",
                    envvar=SUBSCRIPTION_ENV,
                    required=True,
                    help=f"env {SUBSCRIPTION_ENV}",
                )
            )
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def make_client(base_url: str, customer_id: str, timeout: float, tries: int) -> ApiClient:
    from migrate.api.auth import credentials_from_env
    from migrate.api.client import ApiClient, ApiSettings, RetryPolicy

    settings = ApiSettings(base_url=base_url, customer_id=customer_id, timeout=timeout)
    return ApiClient(settings, credentials_from_env(os.environ), retry=RetryPolicy(attempts=tries))


def api_errors(func: F) -> F:
    """A misconfigured client is a usage error (exit 2, with the usage line); a v2 webhook
    description that cannot become a subscription is a problem found (1). Other API errors
    carry their own exit code (:class:`migrate.api.errors.ApiError`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from migrate.api.errors import ApiConfigError
        from migrate.api.subscriptions import V2ConfigError

        try:
            return func(*args, **kwargs)
        except ApiConfigError as exc:
            raise click.UsageError(one_line(exc)) from exc
        except V2ConfigError as exc:
            raise ProblemFound(one_line(exc)) from exc

    return wrapper  # type: ignore[return-value]


__all__ = [
    "CliState",
    "api_errors",
    "cli_state",
    "connection",
    "db_option",
    "emit",
    "emit_json",
    "end_quietly_on_closed_pipe",
    "fail_cleanly",
    "format_option",
    "json_format",
    "make_client",
    "opened_store",
    "stderr_is_terminal",
    "store_options",
    "warn",
]
