"""``db``: the store's schema, managed by the Alembic migrations shipped with the package."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from migrate.cli.base import db_option, emit_json, format_option, stderr_is_terminal
from migrate.errors import ProblemFound
from migrate.store import (
    check,
    current,
    downgrade,
    head,
    open_store,
    revisions,
    safe_url,
    upgrade,
)
from migrate.store.presence import missing_sqlite_file
from migrate.words import counted

F = Callable[..., Any]


def store_options(func: F) -> F:
    return db_option(format_option("text", "json")(func))


@click.group()
def db() -> None:
    """Create, upgrade and check the store's schema (Alembic migrations).

    CI: 'webhooks-migrate db upgrade && webhooks-migrate db check' on a scratch database
    fails (exit 1) when the models and the migrations disagree.
    """


def _move(
    db_url: str,
    output_format: str,
    move: Callable[[Any], None],
    destroyed: dict[str, int] | None = None,
) -> None:
    engine = open_store(db_url, upgrade=False)
    try:
        before = current(engine)
        try:
            move(engine)
        except CommandError as exc:  # an unknown revision, or one on the wrong side
            raise click.UsageError(str(exc)) from exc
        after = current(engine)
    finally:
        engine.dispose()
    if output_format == "json":
        report: dict[str, Any] = {"database": safe_url(db_url), "from": before, "to": after}
        if destroyed is not None:
            report["destroyed"] = destroyed
        emit_json(report)
    elif before == after:
        click.echo(f"{safe_url(db_url)}: already at {after or '<base>'}")
    else:
        click.echo(f"{safe_url(db_url)}: {before or '<base>'} -> {after or '<base>'}")


@db.command("upgrade")
@click.argument("revision", default="head")
@store_options
def upgrade_command(revision: str, db_url: str, output_format: str) -> None:
    """Upgrade the store to REVISION (default: head, the newest)."""
    _move(db_url, output_format, lambda engine: upgrade(engine, revision))


@db.command("downgrade")
@click.argument("revision")
@click.option(
    "--yes",
    is_flag=True,
    help="Destroy the rows the downgrade drops without asking (they are listed first).",
)
@store_options
def downgrade_command(revision: str, yes: bool, db_url: str, output_format: str) -> None:
    """Downgrade the store to REVISION ('base' removes every table; their data is lost).

    A downgrade that destroys rows lists them per table and goes on only with --yes, or on a
    terminal when you type the database's name; otherwise it exits 2 and changes nothing.
    """
    from migrate.store.downgrade_plan import plan_downgrade

    engine = open_store(db_url, upgrade=False)
    try:
        plan = plan_downgrade(engine, revision)
    except (CommandError, RevisionError) as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        engine.dispose()
    if plan.rows:
        _confirm_destruction(db_url, revision, plan.describe(), yes=yes)
    _move(db_url, output_format, lambda e: downgrade(e, revision), destroyed=plan.destroyed)


def _confirm_destruction(db_url: str, revision: str, lines: list[str], *, yes: bool) -> None:
    if yes:
        click.echo(f"{safe_url(db_url)}: downgrading to {revision} destroys:", err=True)
        for line in lines:
            click.echo(f"  {line}", err=True)
        return
    click.echo(f"{safe_url(db_url)}: downgrading to {revision} would destroy:", err=True)
    for line in lines:
        click.echo(f"  {line}", err=True)
    if not (sys.stdin.isatty() and stderr_is_terminal()):
        raise click.UsageError("nothing was changed; pass --yes to destroy these rows")
    name = confirmation_word(db_url)
    answer = click.prompt(
        f"type {name} to go on", default="", show_default=False, err=True, prompt_suffix=": "
    )
    if answer.strip() != name:
        raise click.UsageError("not confirmed; nothing was changed")


def confirmation_word(db_url: str) -> str:
    """What a user types to confirm: the database's name (a SQLite file's own name)."""
    database = make_url(db_url).database
    return os.path.basename(database) if database and database != ":memory:" else "yes"


def _current_revision(db_url: str) -> str | None:
    if missing_sqlite_file(db_url) is not None:
        return None  # connecting would create the file: a missing store is at no revision
    engine = open_store(db_url, upgrade=False)
    try:
        return current(engine)
    finally:
        engine.dispose()


@db.command("current")
@store_options
def current_command(db_url: str, output_format: str) -> None:
    """Show the store's revision and whether it is the newest."""
    revision = _current_revision(db_url)
    newest = head()
    missing = missing_sqlite_file(db_url)
    if output_format == "json":
        emit_json(
            {
                "database": safe_url(db_url),
                "current": revision,
                "head": newest,
                "at_head": revision == newest,
            }
        )
    elif missing is not None:
        click.echo(
            f"<base> (no store: {missing} does not exist, nothing was created; head is {newest}: "
            "run webhooks-migrate db upgrade)"
        )
    elif revision == newest:
        click.echo(f"{revision} (head)")
    else:
        click.echo(f"{revision or '<base>'} (head is {newest}: run webhooks-migrate db upgrade)")


@db.command("check")
@store_options
def check_command(db_url: str, output_format: str) -> None:
    """Compare the models with the migrated store; exit 1 listing each difference."""
    missing = missing_sqlite_file(db_url)
    if missing is not None:
        differences = [
            f"no store: {missing} does not exist (nothing was created), so it is not at head "
            f"{head()}: run webhooks-migrate db upgrade"
        ]
    else:
        engine = open_store(db_url, upgrade=False)
        try:
            differences = check(engine)
        finally:
            engine.dispose()
    if output_format == "json":
        emit_json(
            {"database": safe_url(db_url), "clean": not differences, "differences": differences}
        )
    else:
        for difference in differences:
            click.echo(difference)
    if differences:
        from migrate.ingest.bulk import EVENT_INDEXES

        repairable = any(name in d for d in differences for name, _ in EVENT_INDEXES)
        hint = (
            " (a bulk ingest stopped before it rebuilt the events indexes: run "
            "webhooks-migrate db repair)"
            if repairable
            else ""
        )
        raise ProblemFound(
            f"{counted(len(differences), 'difference')} between the models and the store{hint}"
        )
    if output_format == "text":
        click.echo(f"models and migrations agree (revision {head()})")


@db.command("repair")
@store_options
def repair_command(db_url: str, output_format: str) -> None:
    """Build the events indexes a killed bulk ingest left out (nothing else changes)."""
    from migrate.ingest.bulk import repair

    engine = open_store(db_url, upgrade=False)
    try:
        built = repair(engine)
    finally:
        engine.dispose()
    if output_format == "json":
        emit_json({"database": safe_url(db_url), "built": built})
    elif built:
        click.echo(f"{safe_url(db_url)}: built {', '.join(built)}")
    else:
        click.echo(f"{safe_url(db_url)}: nothing to repair")


@db.command("history")
@store_options
def history_command(db_url: str, output_format: str) -> None:
    """List the shipped revisions, oldest first, marking the store's current one."""
    revision = _current_revision(db_url)
    shipped = revisions()
    if output_format == "json":
        emit_json(
            {
                "database": safe_url(db_url),
                "current": revision,
                "revisions": [r.to_json() for r in shipped],
            }
        )
        return
    for r in shipped:
        click.echo(f"{r}{' (current)' if r.revision == revision else ''}")
