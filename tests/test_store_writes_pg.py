"""The listener's one-statement group commit on PostgreSQL (``migrate.store.writes_pg``) stores
exactly what the SQLAlchemy path (``writes.insert_events`` + ``count_resightings`` +
``insert_rejects``) stores, batch after batch, and says the same events were new."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import DatabaseServer, _postgres_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import v2_notifications, v3_claims

from adapters.claims import event_from_claims
from adapters.unified import Delivery, UnifiedEvent
from adapters.v2 import event_from_v2
from migrate.serve.store import Batch, ListenerStore
from migrate.store import open_store, rows, writes_pg

pytestmark = pytest.mark.postgres

# Compared: everything but the surrogate key and the moments of writing.
_COMPARED = [c for c in rows.EVENT_COLUMNS if c not in ("first_seen_at", "last_seen_at")]
_REJECT_COMPARED = [c for c in rows.REJECT_COLUMNS if c != "created_at"]


@pytest.fixture(scope="module")
def stores(postgres_server: DatabaseServer) -> Iterator[tuple[ListenerStore, ListenerStore]]:
    """Two stores: one written the one-statement way, one through SQLAlchemy."""
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(contextlib.contextmanager(_postgres_database)(postgres_server))
            for _ in range(2)
        ]
        for url in urls:
            open_store(url).dispose()
        one, reference = ListenerStore(urls[0]), ListenerStore(urls[1])
        stack.callback(one.close)
        stack.callback(reference.close)
        yield one, reference


def _rows(store: ListenerStore) -> tuple[list[Any], list[Any]]:
    engine = store._sa_engine()
    with engine.connect() as conn:
        events = conn.execute(
            sa.text(f"SELECT {', '.join(_COMPARED)} FROM events ORDER BY event_id")  # noqa: S608
        ).all()
        rejects = conn.execute(
            sa.text(
                f"SELECT {', '.join(_REJECT_COMPARED)} FROM rejects"  # noqa: S608
                " ORDER BY raw, reason, message"
            )
        ).all()
    return [tuple(r) for r in events], [tuple(r) for r in rejects]


def _clear(store: ListenerStore) -> None:
    with store._sa_engine().begin() as conn:
        conn.exec_driver_sql("TRUNCATE events, rejects, deliveries")


def _v3(claims: dict[str, Any]) -> UnifiedEvent | None:
    try:
        event = event_from_claims(claims)
        rows.check_storable(event)
    except Exception:
        return None  # the listener refuses it before any batch
    return event


def _v2(drawn: tuple[dict[str, Any], Any]) -> UnifiedEvent | None:
    try:
        event = event_from_v2(drawn[0], kind="update")
        rows.check_storable(event)
    except Exception:
        return None
    return event


_reject = st.builds(
    lambda reason, raw, message: rows.reject_row(
        path="/v3", pointer="", reason=reason, message=message, raw=raw, now=rows.now_text()
    ),
    st.sampled_from(["bad_signature", "invalid_key", "schema"]),
    st.text(max_size=40),
    st.text(max_size=40),
)


@st.composite
def batches(draw: st.DrawFn) -> list[Batch]:
    """Batches drawing from a small pool of events: repeats within and across batches."""
    pool3 = [e for e in draw(st.lists(v3_claims().map(_v3), min_size=1, max_size=5)) if e]
    pool2 = [e for e in draw(st.lists(v2_notifications().map(_v2), max_size=3)) if e]
    out = []
    for _ in range(draw(st.integers(1, 4))):
        v3 = draw(st.lists(st.sampled_from(pool3), max_size=6)) if pool3 else []
        v2 = draw(st.lists(st.sampled_from(pool2), max_size=3)) if pool2 else []
        out.append(Batch(v3=v3, v2=v2, rejects=draw(st.lists(_reject, max_size=2))))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_one_statement_stores_what_the_sqlalchemy_path_stores(
    stores: tuple[ListenerStore, ListenerStore], drawn: list[Batch]
) -> None:
    one, reference = stores
    for store in stores:
        _clear(store)
    for batch in drawn:
        assert one._write_pg(batch).new == reference._write_sa(batch).new
    assert _rows(one) == _rows(reference)


def test_repeats_in_a_batch_and_across_batches_are_counted(
    stores: tuple[ListenerStore, ListenerStore],
) -> None:
    one, _ = stores
    _clear(one)
    event = _v3({"iss": "i", "iat": 1, "jti": "j-1", "events": {"test": {}}})
    assert event is not None
    assert one._write_pg(Batch(v3=[event, event, event])).new == {"j-1"}
    assert one._write_pg(Batch(v3=[event])).new == frozenset()
    with one._sa_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT seen_count FROM events")).scalar_one() == 4


def test_an_event_carrying_a_delivery_is_refused_not_dropped() -> None:
    # The one statement writes no deliveries table: an event with one must not lose it silently.
    event = _v3({"iss": "i", "iat": 1, "jti": "j-2", "events": {"test": {}}})
    assert event is not None
    with pytest.raises(ValueError, match="no deliveries"):
        writes_pg.batch_params([([event._replace(delivery=Delivery("sent", 1))], True)], [])
