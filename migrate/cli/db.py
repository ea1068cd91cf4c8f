"""``db``: the store's schema, managed by the Alembic migrations shipped with the package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from alembic.util import CommandError

from migrate.cli.base import db_option, emit_json, format_option
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

F = Callable[..., Any]


def store_options(func: F) -> F:
    return db_option(format_option("text", "json")(func))


@click.group()
def db() -> None:
    """Create, upgrade and check the store's schema (Alembic migrations).

    CI: ``webhooks-migrate db upgrade && webhooks-migrate db check`` on a scratch database
    fails (exit 1) when the models and the migrations disagree.
    """


def _move(db_url: str, output_format: str, move: Callable[[Any], None]) -> None:
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
        emit_json({"database": safe_url(db_url), "from": before, "to": after})
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
@store_options
def downgrade_command(revision: str, db_url: str, output_format: str) -> None:
    """Downgrade the store to REVISION (``base`` removes every table; their data is lost)."""
    _move(db_url, output_format, lambda engine: downgrade(engine, revision))


def _current_revision(db_url: str) -> str | None:
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
    if output_format == "json":
        emit_json(
            {
                "database": safe_url(db_url),
                "current": revision,
                "head": newest,
                "at_head": revision == newest,
            }
        )
    elif revision == newest:
        click.echo(f"{revision} (head)")
    else:
        click.echo(f"{revision or '<base>'} (head is {newest}: run webhooks-migrate db upgrade)")


@db.command("check")
@store_options
def check_command(db_url: str, output_format: str) -> None:
    """Compare the models with the migrated store; exit 1 listing each difference."""
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
        raise ProblemFound(f"{len(differences)} difference(s) between the models and the store")
    if output_format == "text":
        click.echo(f"models and migrations agree (revision {head()})")


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
