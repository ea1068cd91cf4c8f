"""The v3 store: models, engines and the Alembic migrations shipped with the package.

The migration functions are loaded on first use (PEP 562): opening a store that is already at
the newest revision, which is what most commands do, never imports Alembic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from migrate.store.engine import (
    DEFAULT_URL,
    StoreUnavailable,
    check_connection,
    make_engine,
    safe_url,
)
from migrate.store.revision import at_head

if TYPE_CHECKING:
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

_FROM_MIGRATIONS = frozenset(
    {
        "Revision",
        "check",
        "current",
        "downgrade",
        "head",
        "history",
        "revisions",
        "upgrade",
        "upgrade_if_behind",
    }
)

__all__ = [
    "DEFAULT_URL",
    "Revision",
    "StoreUnavailable",
    "check",
    "check_connection",
    "current",
    "downgrade",
    "head",
    "history",
    "make_engine",
    "open_store",
    "revisions",
    "safe_url",
    "upgrade",
    "upgrade_if_behind",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_MIGRATIONS:
        return getattr(importlib.import_module("migrate.store.migrations"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(url: str, *, upgrade: bool = True) -> Engine:
    """An engine on the store at ``url``, brought to the newest revision unless ``upgrade=False``.

    Raises :class:`StoreUnavailable` (an ``OperationalError``: the CLI exits 3 with one line)
    when the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        check_connection(engine)
        if upgrade and not at_head(engine):
            from migrate.store.migrations import upgrade_if_behind

            upgrade_if_behind(engine)  # takes the migration lock and looks again
    except BaseException:
        engine.dispose()
        raise
    return engine
