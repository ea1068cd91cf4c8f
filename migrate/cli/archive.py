"""``ingest``'s options for the v2 archive: ``--from v2-csv FILE`` and ``--from v2-sql --source
URL (--table NAME | --query SQL)``, with ``--map FIELD=COLUMN`` and ``--naive-utc``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from adapters.v2_rows import MAPPABLE_FIELDS, ColumnMap, column_map
from migrate.archive.source import SqlSource
from migrate.defaults import SOURCE_PASSWORD_ENV, SOURCE_URL_ENV
from migrate.errors import UsageError
from migrate.kinds import kind_of

F = Callable[..., Any]


def files_or_source(func: F) -> F:
    """``FILE...``: required, except for ``--from v2-sql``, which reads ``--source``."""
    return click.argument(
        "files",
        nargs=-1,
        type=click.Path(allow_dash=True, dir_okay=False, exists=True),
    )(func)


def archive_options(func: F) -> F:
    for option in reversed(
        (
            click.option(
                "--map",
                "mapping",
                multiple=True,
                metavar="FIELD=COLUMN",
                help="v2-csv, v2-sql: the column holding a v2 field "
                f"({', '.join(MAPPABLE_FIELDS)}); default: the field's own name.",
            ),
            click.option(
                "--naive-utc",
                is_flag=True,
                help="v2-csv, v2-sql: take timestamps without a time zone as UTC "
                "(else such rows are rejected as ambiguous).",
            ),
            click.option(
                "--source",
                "source_url",
                envvar=SOURCE_URL_ENV,
                metavar="URL",
                help=f"v2-sql: SQLAlchemy URL of the v2 archive's database (env {SOURCE_URL_ENV}"
                f"; its password may come from {SOURCE_PASSWORD_ENV}). Only ever read.",
            ),
            click.option("--table", metavar="NAME", help="v2-sql: the table of v2 rows."),
            click.option(
                "--query", metavar="SQL", help="v2-sql: a query giving the v2 rows (needs --key)."
            ),
            click.option(
                "--key",
                metavar="COLUMN",
                help="v2-sql: the unique column rows are read (and resumed) in the order of "
                "(default: the table's primary key).",
            ),
        )
    ):
        func = option(func)
    return func


def _pairs(mapping: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in mapping:
        field, sep, column = item.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise click.BadParameter(f"{item!r} is not FIELD=COLUMN", param_hint="--map")
        if field in pairs:
            raise click.BadParameter(f"{field} is mapped twice", param_hint="--map")
        pairs[field] = column
    return pairs


def _source_url(url: str) -> str:
    """The URL with the password from the environment when the URL has none."""
    password = os.environ.get(SOURCE_PASSWORD_ENV)
    if not password:
        return url
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise click.BadParameter(str(exc), param_hint="--source") from None
    if parsed.password:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def archive_input(
    kind: str,
    files: tuple[str, ...],
    *,
    mapping: tuple[str, ...],
    naive_utc: bool,
    source_url: str | None,
    table: str | None,
    query: str | None,
    key: str | None,
) -> tuple[ColumnMap | None, SqlSource | None]:
    """The column mapping (for the archive kinds) and the database source (``v2-sql``), with
    every misuse a usage error."""
    spec = kind_of(kind)
    if not spec.ingest_only:
        given = [
            name
            for name, value in (
                ("--map", mapping),
                ("--naive-utc", naive_utc),
                ("--table", table),
                ("--query", query),
                ("--key", key),
            )
            if value
        ]
        if given:
            raise UsageError(f"{given[0]} is for --from v2-csv or v2-sql, not {kind}")
    if not spec.database:
        if table or query or key:
            raise UsageError(f"--table, --query and --key are for --from v2-sql, not {kind}")
        if not files:
            raise click.UsageError("Missing argument 'FILES...'.")
    elif files:
        raise UsageError("--from v2-sql reads --source, not files")
    if not spec.ingest_only:
        return None, None
    try:
        columns = column_map(_pairs(mapping), naive_utc=naive_utc)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--map") from None
    if not spec.database:
        return columns, None
    if not source_url:
        raise UsageError(f"--from v2-sql needs --source URL (or {SOURCE_URL_ENV})")
    source = SqlSource(_source_url(source_url), table=table, query=query, key=key, columns=columns)
    from migrate.forked import call_forked

    # In a child: SQLAlchemy and the source's driver stay out of the process that writes a
    # SQLite store (the producer reading the rows imports them in its own).
    return columns, call_forked(source.resolved)
