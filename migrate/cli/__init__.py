"""The ``webhooks-migrate`` command line: thin commands over library functions.

Subcommands are imported only when called, so ``convert`` does not pay for SQLAlchemy and a
command module can be added without touching the others.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from migrate import __version__
from migrate.cli.base import CliState, end_quietly_on_closed_pipe, fail_cleanly
from migrate.defaults import DEBUG_ENV

# name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "convert": "migrate.cli.convert:convert",
    "validate": "migrate.cli.validate:validate",
    "db": "migrate.cli.db:db",
    "ingest": "migrate.cli.ingest:ingest",
    "verify": "migrate.cli.verify:verify",
    "schema": "migrate.cli.schema:schema",
    "api": "migrate.cli.api:api",
    "simulate": "migrate.cli.simulate:simulate",
    "status": "migrate.cli.status:status",
    "serve": "migrate.cli.serve:serve",
    "parity": "migrate.cli.parity:parity",
    "rejects": "migrate.cli.rejects:rejects",
    "checklist": "migrate.cli.checklist:checklist",
    "rehearse": "migrate.cli.rehearse:rehearse_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        return fail_cleanly(lambda: super(LazyGroup, self).invoke(ctx), ctx)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENV,
    help="Show tracebacks for errors (also WEBHOOKS_MIGRATE_DEBUG=1).",
)
@click.version_option(__version__, prog_name="webhooks-migrate")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Move Identity Cloud webhooks from v2 to v3 without losing an event.

    Exit codes: 0 success, 1 a problem you must act on (rejected input, failed check),
    2 usage error, 3 operational failure (store or API unreachable, authentication refused),
    70 internal error (a bug: please report it), 130 interrupted.
    """
    ctx.obj = CliState(debug=debug)


def main() -> None:
    # Writing to a closed pipe (``| head``) is not an error worth a traceback.
    try:
        cli.main(prog_name="webhooks-migrate")
    except BrokenPipeError:
        end_quietly_on_closed_pipe()
