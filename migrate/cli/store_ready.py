"""A store that must already be set up (``--no-upgrade``, ``status``): one line, exit 3, if not."""

from __future__ import annotations


def require_store(db_url: str) -> None:
    """Exit 3 saying "run `webhooks-migrate db upgrade`" unless the store has its tables.

    Creates nothing: a missing SQLite file stays missing. ``StoreNotReady`` is an ``Unavailable``
    of the error tree, so the CLI's one error handler turns it into that line.
    """
    from migrate.store.presence import require_set_up

    require_set_up(db_url)
