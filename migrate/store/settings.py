"""Small facts about how the store is used, kept in its ``settings`` table.

``listener.audience``: the listener's public URL, recorded by ``serve`` and used by
``checklist`` as the default ``--endpoint``.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import mysql, postgresql, sqlite

from migrate.store.models import Setting, utc_now
from migrate.store.urls import MYSQL_NAMES

LISTENER_AUDIENCE = "listener.audience"


def get(bind: Engine | Connection, key: str) -> str | None:
    """The value stored under ``key``, ``None`` when there is none."""
    query = select(Setting.value).where(Setting.key == key)
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return conn.execute(query).scalar_one_or_none()
    return bind.execute(query).scalar_one_or_none()


def put(bind: Engine | Connection, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing what was there (one statement, race-free)."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            _put(conn, key, value)
    else:
        _put(bind, key, value)


def _put(conn: Connection, key: str, value: str) -> None:
    row = {"key": key, "value": value, "updated_at": utc_now()}
    name = conn.dialect.name
    if name in MYSQL_NAMES:
        my = mysql.insert(Setting).values(row)
        conn.execute(
            my.on_duplicate_key_update(value=my.inserted.value, updated_at=my.inserted.updated_at)
        )
    elif name == "postgresql":
        pg = postgresql.insert(Setting).values(row)
        conn.execute(pg.on_conflict_do_update(index_elements=["key"], set_=dict(row)))
    else:
        lite = sqlite.insert(Setting).values(row)
        conn.execute(lite.on_conflict_do_update(index_elements=["key"], set_=dict(row)))
