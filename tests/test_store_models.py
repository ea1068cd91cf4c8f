"""The models behave the same on SQLite, PostgreSQL and MariaDB: times, JSON, NULLs, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from migrate.store.fingerprint import delivery_fingerprint
from migrate.store.models import Delivery, Event, IngestFile, Reject, Summary

IST = timezone(timedelta(hours=5, minutes=30))

PAYLOAD: dict[str, Any] = {
    "jti": "1e569bb5-c21d-4e9c-a1aa-7ec3b831bda2",
    "name": 'Zoë Ångström 😀 中文 "quoted" back\\slash',
    "nested": {"list": [1, 2.5, None, True, False, "ü"], "empty": {}},
    "big": 2**70,  # past 64 bits: kept exactly, not turned into a float
    "aud": ["https://example.test/hook"],
}


def event_row(event_id: str = "evt-1", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "source": "v3",
        "event_type": "entityUpdated",
        "entity_type": "user",
        "entity_id": "e499ac24-46bd-4d85-91ee-bdeadd446c1e",
        "occurred_at": datetime(2020, 1, 27, 22, 23, 50, 739000, tzinfo=IST),
        "issued_at": None,
        "client_id": None,
        "application_id": None,
        "global_sub": None,
        "issuer": "https://api.example.test/webhooks",
        "audience": ["https://example.test/hook"],
        "transaction_id": None,
        "event_object_id": None,
        "attributes": None,
        "credential_type": None,
        "v2_hash": None,
        "payload": PAYLOAD,
        "signature_verified": None,
    }
    row.update(overrides)
    return row


def insert(engine: sa.Engine, model: type[Any], *rows: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(model), list(rows))


def test_an_event_round_trips_with_its_times_json_and_nulls(store_engine: sa.Engine) -> None:
    insert(store_engine, Event, event_row())
    with Session(store_engine) as session:
        event = session.scalars(sa.select(Event)).one()

    assert event.occurred_at == datetime(2020, 1, 27, 16, 53, 50, 739000, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert event.payload == PAYLOAD
    assert event.audience == ["https://example.test/hook"]
    assert event.attributes is None
    assert event.issued_at is None
    assert event.signature_verified is None
    assert event.seen_count == 1
    assert event.first_seen_at.tzinfo is UTC
    assert event.first_seen_at == event.last_seen_at
    assert event.first_file_id is None


def test_json_none_is_sql_null_not_the_json_literal(store_engine: sa.Engine) -> None:
    insert(store_engine, Event, event_row("a"), event_row("b", attributes=["familyName"]))
    with store_engine.connect() as conn:
        null_ids = conn.scalars(
            sa.select(Event.event_id).where(Event.__table__.c.attributes.is_(None))
        ).all()
    assert null_ids == ["a"]


def test_booleans_keep_all_three_states(store_engine: sa.Engine) -> None:
    insert(
        store_engine,
        Event,
        *(event_row(f"e{i}", signature_verified=v) for i, v in enumerate((None, True, False))),
    )
    with store_engine.connect() as conn:
        got = conn.execute(sa.select(Event.event_id, Event.signature_verified)).all()
    assert sorted(got) == [("e0", None), ("e1", True), ("e2", False)]


def test_event_id_is_unique_and_case_sensitive(store_engine: sa.Engine) -> None:
    insert(store_engine, Event, event_row("ABC"))
    insert(store_engine, Event, event_row("abc"))  # a different jti, even on MariaDB
    with pytest.raises(sa.exc.IntegrityError):
        insert(store_engine, Event, event_row("ABC"))
    with store_engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Event)) == 2


def test_naive_datetimes_are_refused(store_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        insert(store_engine, Event, event_row(occurred_at=datetime(2020, 1, 27, 16, 53, 50)))


def test_source_must_be_v2_or_v3(store_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.DBAPIError):
        insert(store_engine, Event, event_row(source="v4"))
    with store_engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


aware_datetimes = st.datetimes(
    min_value=datetime(1000, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(moments=st.lists(aware_datetimes, min_size=1, max_size=5, unique=True))
def test_timestamps_keep_the_instant_to_the_microsecond_and_sort_by_it(
    store_engine: sa.Engine, moments: list[datetime]
) -> None:
    """Any offset in, the same instant out as aware UTC; SQL order is chronological order."""
    with store_engine.begin() as conn:
        conn.execute(sa.delete(Event))
        conn.execute(
            sa.insert(Event),
            [event_row(f"t{i}", occurred_at=m) for i, m in enumerate(moments)],
        )
        stored = conn.scalars(sa.select(Event.occurred_at).order_by(Event.occurred_at)).all()
        earliest = min(moments)
        not_before = conn.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.occurred_at >= earliest)
        )
    assert stored == sorted(m.astimezone(UTC) for m in moments)
    assert all(s.tzinfo is UTC for s in stored)
    assert not_before == len(moments)


def test_the_file_ledger_is_unique_per_content_and_kind(store_engine: sa.Engine) -> None:
    row = {"path": "a.ndjson", "sha256": "0" * 64, "kind": "export", "status": "incomplete"}
    insert(store_engine, IngestFile, row)
    insert(store_engine, IngestFile, {**row, "kind": "set"})
    with pytest.raises(sa.exc.IntegrityError):
        insert(store_engine, IngestFile, {**row, "path": "copy-of-a.ndjson"})
    with Session(store_engine) as session:
        ledger = session.scalars(sa.select(IngestFile).order_by(IngestFile.id)).first()
    assert ledger is not None
    assert (ledger.last_line, ledger.read, ledger.inserted, ledger.completed_at) == (0, 0, 0, None)
    assert ledger.started_at.tzinfo is UTC


def test_a_reject_is_recorded_once_even_with_a_long_pointer(store_engine: sa.Engine) -> None:
    """The unique key includes the whole pointer, however long (TEXT on MariaDB too)."""
    insert(
        store_engine,
        IngestFile,
        {"path": "a", "sha256": "1" * 64, "kind": "set", "status": "incomplete"},
    )
    long_pointer = "/events/" + "k" * 2000
    base = {"file_id": 1, "path": "a", "line": 7, "reason": "schema", "message": "m", "raw": "{"}
    insert(
        store_engine,
        Reject,
        {**base, "pointer": long_pointer + "a"},
        {**base, "pointer": long_pointer + "b"},
    )
    with pytest.raises(sa.exc.IntegrityError):
        insert(store_engine, Reject, {**base, "pointer": long_pointer + "a", "message": "again"})


def test_foreign_keys_are_enforced(store_engine: sa.Engine) -> None:
    """SQLite too: the engine turns its foreign keys on."""
    delivery = {"event_id": "never-stored", "state": "success", "attempts": 1}
    with pytest.raises(sa.exc.IntegrityError):
        insert(store_engine, Delivery, delivery)
    with pytest.raises(sa.exc.IntegrityError):
        insert(store_engine, Event, event_row(first_file_id=999))


def test_rereading_a_delivery_adds_nothing_and_a_change_adds_a_row(
    store_engine: sa.Engine,
) -> None:
    insert(store_engine, Event, event_row("evt"))
    seen = {
        "event_id": "evt",
        "record_id": "28da8068",
        "state": "retrying",
        "attempts": 2,
        "status_code": 503,
        "endpoint": "https://example.test/hook",
        "created_at": datetime(2020, 1, 27, 16, 53, 50, 815936, tzinfo=UTC),
        "updated_at": None,  # optional in events-store records: NULL must still deduplicate
    }
    insert(store_engine, Delivery, seen)
    with pytest.raises(sa.exc.IntegrityError):
        insert(store_engine, Delivery, seen)
    later = {**seen, "state": "success", "attempts": 3, "status_code": 200}
    insert(store_engine, Delivery, later)
    with Session(store_engine) as session:
        rows = session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
    assert [(r.state, r.attempts) for r in rows] == [("retrying", 2), ("success", 3)]
    assert rows[0].fingerprint == delivery_fingerprint(seen)
    assert rows[0].created_at == seen["created_at"]


def test_delivery_fingerprint_ignores_offsets_and_observation_time() -> None:
    utc = datetime(2020, 1, 27, 16, 53, 51, 554764, tzinfo=UTC)
    seen = {"event_id": "e", "record_id": "r", "state": "success", "attempts": 1}
    assert delivery_fingerprint({**seen, "updated_at": utc}) == delivery_fingerprint(
        {**seen, "updated_at": utc.astimezone(IST), "observed_at": datetime.now(UTC)}
    )
    assert delivery_fingerprint({**seen, "updated_at": utc}) != delivery_fingerprint(
        {**seen, "updated_at": utc + timedelta(microseconds=1)}
    )
    assert delivery_fingerprint(seen) != delivery_fingerprint({**seen, "attempts": 2})


def test_a_summary_snapshot_round_trips(store_engine: sa.Engine) -> None:
    raw = {"updatedAt": "2020-01-27T16:53:51.554Z", "total": 3, "succeeded": 2, "retrying": 0}
    raw |= {"failed": 1, "exportable": 1}
    updated = datetime(2020, 1, 27, 16, 53, 51, 554000, tzinfo=UTC)
    insert(
        store_engine,
        Summary,
        {
            "subscription_id": None,
            "updated_at": updated,
            "total": 3,
            "succeeded": 2,
            "retrying": 0,
            "failed": 1,
            "exportable": 1,
            "raw": raw,
        },
    )
    with Session(store_engine) as session:
        summary = session.scalars(sa.select(Summary)).one()
    assert (summary.updated_at, summary.raw, summary.subscription_id) == (updated, raw, None)
    assert summary.fetched_at.tzinfo is UTC
