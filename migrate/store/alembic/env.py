"""Alembic environment of the webhooks-migrate store.

Driven from code (``migrate.store.migrations``), the caller's connection arrives in
``config.attributes["connection"]``. Run by the plain ``alembic`` command with the shipped
``alembic.ini``, the database is ``$WEBHOOKS_MIGRATE_DB``, else the ini's ``sqlalchemy.url``,
else ``sqlite:///webhooks-v3.db`` as for every other command.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from migrate.defaults import STORE_URL_ENV as DB_ENV
from migrate.store.engine import DEFAULT_URL, make_engine, normalize_url
from migrate.store.migrations import context_options, migration_transaction

config = context.config
if config.config_file_name is not None:  # the plain alembic command: its log settings
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return os.environ.get(DB_ENV) or config.get_main_option("sqlalchemy.url") or DEFAULT_URL


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, **context_options(connection.dialect))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # the caller holds the transaction (and the migration lock)
        _migrate(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as own, migration_transaction(own):
            _migrate(own)
    finally:
        engine.dispose()


def run_offline() -> None:
    """``alembic upgrade --sql``: print the SQL for the URL's backend instead of running it."""
    url = normalize_url(_url())
    dialect = url.get_dialect()()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(dialect),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
