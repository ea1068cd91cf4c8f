"""The store's settings table: one value per key, replaced in place, on every backend."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from migrate.store import settings
from migrate.store.models import Setting


def test_put_replaces_and_get_reads(store_engine: Engine) -> None:
    assert settings.get(store_engine, settings.LISTENER_AUDIENCE) is None
    settings.put(store_engine, settings.LISTENER_AUDIENCE, "https://a.example/v3")
    settings.put(store_engine, settings.LISTENER_AUDIENCE, "https://b.example/v3")
    settings.put(store_engine, "other", "x")
    assert settings.get(store_engine, settings.LISTENER_AUDIENCE) == "https://b.example/v3"
    with store_engine.begin() as conn:
        settings.put(conn, "other", "y")
        assert settings.get(conn, "other") == "y"
        assert conn.execute(select(func.count()).select_from(Setting)).scalar_one() == 2
