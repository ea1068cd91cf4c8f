"""The v3 store: models, engines and the Alembic migrations shipped with the package."""

from __future__ import annotations

from sqlalchemy import Engine

from migrate.store.engine import (
    DEFAULT_URL,
    StoreUnavailable,
    check_connection,
    make_engine,
    safe_url,
)
from migrate.store.migrations import (
    Revision,
    check,
    current,
    downgrade,
    head,
    history,
    revisions,
    upgrade,
    upgrade_if_behind,
)

__all__ = [
    "DEFAULT_URL",
    "Revision",
    "StoreUnavailable",
    "check",
    "current",
    "downgrade",
    "head",
    "history",
    "make_engine",
    "open_store",
    "revisions",
    "safe_url",
    "upgrade",
]


def open_store(url: str, *, upgrade: bool = True) -> Engine:
    """An engine on the store at ``url``, brought to the newest revision unless ``upgrade=False``.

    Raises :class:`StoreUnavailable` (an ``OperationalError``: the CLI exits 3 with one line)
    when the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        check_connection(engine)
        if upgrade:
            upgrade_if_behind(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
