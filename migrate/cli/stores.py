"""Opening the store for commands that only read it: never upgraded, but required at head."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine

from migrate.errors import Unavailable
from migrate.store import open_store, safe_url
from migrate.store.revision import shipped_head, stored_revision


@contextlib.contextmanager
def reading_store(db_url: str) -> Iterator[Engine]:
    """The store at ``db_url``, which must be at the newest revision (exit 3 otherwise)."""
    engine = open_store(db_url, upgrade=False)
    try:
        revision = stored_revision(engine)
        if revision != shipped_head():
            raise Unavailable(
                f"the store {safe_url(db_url)} is at revision {revision or '<none>'}, "
                f"this version reads {shipped_head()}: run `webhooks-migrate db upgrade`"
            )
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def writing_store(db_url: str, *, upgrade: bool = True) -> Iterator[Engine]:
    """The store at ``db_url``, brought to the newest revision first unless ``upgrade=False``."""
    if not upgrade:
        with reading_store(db_url) as engine:
            yield engine
        return
    engine = open_store(db_url)
    try:
        yield engine
    finally:
        engine.dispose()
