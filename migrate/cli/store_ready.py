"""A store that must already be set up (``--no-upgrade``, ``status``): one line, exit 3, if not."""

from __future__ import annotations

from migrate.cli.base import OperationalFailure


def require_store(db_url: str) -> None:
    """Exit 3 saying "run `webhooks-migrate db upgrade`" unless the store has its tables.

    Creates nothing: a missing SQLite file stays missing.
    """
    from migrate.store.presence import StoreNotReady, require_set_up

    try:
        require_set_up(db_url)
    except StoreNotReady as exc:
        raise OperationalFailure(str(exc)) from exc
