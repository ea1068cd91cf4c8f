"""Alembic driven from code: the migration scripts ship inside this package.

No ``alembic.ini`` is read at run time: :func:`alembic_config` builds the configuration and hands
the caller's connection to ``alembic/env.py`` through ``config.attributes["connection"]``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, MetaData, text
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from migrate.store.engine import make_engine
from migrate.store.models import Base
from migrate.store.urls import MYSQL_NAMES

ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"
"""``env.py``, ``script.py.mako`` and ``versions/``; ``alembic.ini`` beside it is for the plain
``alembic`` command only."""

EngineOrURL = Engine | str

# pg_advisory_xact_lock key, and the MySQL GET_LOCK name: any constant unlikely to clash.
_PG_LOCK_KEY = 0x5745_424D_4947  # "WEBMIG"
_MYSQL_LOCK_NAME = "webhooks_migrate.migrations"
_MYSQL_LOCK_WAIT_S = 120


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def script_directory() -> ScriptDirectory:
    """The shipped migration scripts (cached)."""
    return _script()


def head() -> str:
    """The newest revision the package ships."""
    revision = _script().get_current_head()
    assert revision is not None, "the package ships no migrations"
    return revision


@contextlib.contextmanager
def _engine(engine_or_url: EngineOrURL) -> Iterator[Engine]:
    """The caller's engine, or one made for a URL and disposed afterwards."""
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


# Alembic's ``context`` and ``op`` are process-wide proxies: one migration at a time per
# process. Between processes, :func:`migration_transaction` does the same on the database.
_ALEMBIC_IN_USE = threading.Lock()


def _run(engine_or_url: EngineOrURL, action: Callable[[Config], None]) -> None:
    with (
        _ALEMBIC_IN_USE,
        _engine(engine_or_url) as engine,
        engine.connect() as connection,
        migration_transaction(connection),
    ):
        action(alembic_config(connection))


def upgrade(engine_or_url: EngineOrURL, revision: str = "head") -> None:
    _run(engine_or_url, lambda config: command.upgrade(config, revision))


def downgrade(engine_or_url: EngineOrURL, revision: str) -> None:
    _run(engine_or_url, lambda config: command.downgrade(config, revision))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current(engine_or_url: EngineOrURL) -> str | None:
    """The database's revision; ``None`` for a database that was never upgraded."""
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        return _current(connection)


def upgrade_if_behind(engine: Engine) -> None:
    """Bring the store to head, without taking a write lock when it is there already."""
    if current(engine) != head():
        upgrade(engine)


# -- comparison -------------------------------------------------------------------------------


def _compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: sa_types.TypeEngine[Any],
    metadata_type: sa_types.TypeEngine[Any],
) -> bool | None:
    """Also compare MySQL's fractional-second precision, which Alembic does not.

    ``DATETIME`` without ``fsp=6`` silently truncates every timestamp to the second, the one
    type difference here that loses data. Everything else is left to Alembic (``None``).
    """
    if context.dialect.name in MYSQL_NAMES and isinstance(inspected_type, mysql.DATETIME):
        wanted = metadata_type.dialect_impl(context.dialect)
        if isinstance(wanted, sa_types.DateTime):
            return (inspected_type.fsp or 0) != (getattr(wanted, "fsp", None) or 0)
    return None


def context_options(dialect: Dialect, metadata: MetaData | None = None) -> dict[str, Any]:
    """What ``env.py`` and :func:`check` both give Alembic: one comparison, two users."""
    return {
        "target_metadata": Base.metadata if metadata is None else metadata,
        "render_as_batch": dialect.name == "sqlite",
        "compare_type": _compare_type,
    }


def check(engine_or_url: EngineOrURL, metadata: MetaData | None = None) -> list[str]:
    """Differences between ``metadata`` (the models by default) and the migrated database.

    Empty when they agree. The database must be at head (``db upgrade`` it first): compared
    with an older revision, every later change would show up as drift.
    """
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        revision = _current(connection)
        if revision != head():
            return [
                f"the database is at revision {revision or '<base>'}, not at head {head()}: "
                "upgrade it first (webhooks-migrate db upgrade)"
            ]
        options = context_options(connection.dialect, metadata)
        context = MigrationContext.configure(connection, opts=options)
        diffs = compare_metadata(context, options["target_metadata"])
        return [describe(diff, connection.dialect) for diff in _flatten(diffs)]


def _flatten(diffs: list[Any]) -> Iterator[tuple[Any, ...]]:
    # Column modifications come grouped in a list per column; everything else is a tuple.
    for diff in diffs:
        if isinstance(diff, list):
            yield from diff
        else:
            yield diff


_WHERE = {
    "add": "in the models but not in the database",
    "remove": "in the database but not in the models",
}
_ITEMS = {"index": "index", "constraint": "constraint", "fk": "foreign key"}


def describe(diff: tuple[Any, ...], dialect: Dialect) -> str:
    """One autogenerate difference as a sentence: what the models say against the database."""
    action, _, subject = diff[0].partition("_")
    where = _WHERE.get(action)
    if where and subject == "table":
        return f"table {diff[1].name} is {where}"
    if where and subject == "column":
        table, column = diff[2], diff[3]
        return f"column {table}.{column.name} ({column.type.compile(dialect)}) is {where}"
    if where and subject in _ITEMS:
        item = diff[1]
        columns = ", ".join(c.name for c in getattr(item, "columns", ()))
        return f"{_ITEMS[subject]} {item.name} on {item.table.name}({columns}) is {where}"
    if action == "modify":
        _, _, table, column, _, old, new = diff
        old, new = (_render(value, dialect) for value in (old, new))
        return f"column {table}.{column}: {subject} is {old} in the database, {new} in the models"
    return f"{diff[0]}: {diff[1:]!r}"


def _render(value: Any, dialect: Dialect) -> str:
    if isinstance(value, sa_types.TypeEngine):
        return str(value.compile(dialect))
    return repr(value)


# -- history ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Revision:
    revision: str
    down_revision: str | None
    is_head: bool
    doc: str

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "down_revision": self.down_revision,
            "head": self.is_head,
            "doc": self.doc,
        }

    def __str__(self) -> str:
        down = self.down_revision or "<base>"
        return f"{down} -> {self.revision}{' (head)' if self.is_head else ''}, {self.doc}"


def revisions() -> list[Revision]:
    """Every shipped revision, oldest first."""
    found = [
        Revision(
            revision=script.revision,
            down_revision=script.down_revision if isinstance(script.down_revision, str) else None,
            is_head=script.is_head,
            doc=script.doc,
        )
        for script in _script().walk_revisions()
    ]
    return found[::-1]


def history() -> list[str]:
    return [str(revision) for revision in revisions()]


# -- serialising concurrent upgrades ----------------------------------------------------------


@contextlib.contextmanager
def migration_transaction(connection: Connection) -> Iterator[None]:
    """A transaction that holds the database's migration lock until it has committed.

    Two commands started at once on a fresh store (a listener and an ingest) would otherwise
    both try to create its tables. On SQLite the lock is the write lock (``BEGIN IMMEDIATE``),
    which also makes the migration one transaction; on PostgreSQL a transaction-level advisory
    lock. MySQL commits DDL implicitly, so its named lock is the session's, released by hand
    only after the version row is committed.
    """
    name = connection.dialect.name
    if name in MYSQL_NAMES:
        locked = connection.execute(
            text("SELECT GET_LOCK(:name, :wait)"),
            {"name": _MYSQL_LOCK_NAME, "wait": _MYSQL_LOCK_WAIT_S},
        ).scalar()
        connection.commit()
        if locked != 1:
            raise TimeoutError(f"the migration lock was held elsewhere for {_MYSQL_LOCK_WAIT_S} s")
        try:
            with connection.begin():
                yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _MYSQL_LOCK_NAME})
            connection.commit()
        return
    with connection.begin():
        if name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield
