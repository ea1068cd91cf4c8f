"""The v3 store: models, engines and the Alembic migrations shipped with the package.

Everything is loaded on first use (PEP 562): ``import migrate.store`` costs nothing, so a
command that never needs SQLAlchemy (a SQLite ``ingest``) or Alembic (opening a store that is
already at the newest revision, which is what most commands do) never imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.errors import StoreUnavailable
    from migrate.store.engine import (
        DEFAULT_URL,
        check_connection,
        make_engine,
        open_store,
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

_HOMES = {
    "migrate.errors": ("StoreUnavailable",),
    "migrate.store.engine": (
        "DEFAULT_URL",
        "check_connection",
        "make_engine",
        "open_store",
        "safe_url",
    ),
    "migrate.store.migrations": (
        "Revision",
        "check",
        "current",
        "downgrade",
        "head",
        "history",
        "revisions",
        "upgrade",
        "upgrade_if_behind",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
