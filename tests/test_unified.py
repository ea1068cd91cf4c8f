"""The unified event value: its JSON shape is the schema's, and to_json/from_json round-trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import json_objects

from adapters import schema_registry
from adapters.unified import Delivery, UnifiedEvent

SCHEMA_FIELDS = list(schema_registry.load(schema_registry.UNIFIED)["required"])

timestamps = st.datetimes().map(
    lambda d: (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{d.microsecond // 1000:03d}Z"
    )
)
maybe_text = st.none() | st.text(max_size=10)

deliveries = st.builds(
    Delivery,
    state=st.sampled_from(["success", "failure", "retrying"]),
    attempts=st.integers(min_value=0, max_value=6),
    status_code=st.none() | st.integers(min_value=100, max_value=599),
    endpoint=maybe_text,
    created_at=st.none() | timestamps,
    updated_at=st.none() | timestamps,
    record_id=maybe_text,
)

events = st.builds(
    UnifiedEvent,
    event_id=st.text(min_size=1, max_size=40),
    source=st.sampled_from(["v2", "v3"]),
    occurred_at=timestamps,
    payload=json_objects,
    event_type=st.none() | st.text(min_size=1, max_size=10),
    entity_type=maybe_text,
    entity_id=maybe_text,
    issued_at=st.none() | timestamps,
    client_id=maybe_text,
    application_id=maybe_text,
    global_sub=maybe_text,
    issuer=maybe_text,
    audience=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    transaction_id=maybe_text,
    event_object_id=maybe_text,
    attributes=st.none() | st.lists(st.text(max_size=10), max_size=3).map(tuple),
    credential_type=maybe_text,
    v2_hash=maybe_text,
    delivery=st.none() | deliveries,
)


@settings(max_examples=120)
@given(events)
def test_json_round_trip_through_text_is_exact(event: UnifiedEvent) -> None:
    text = json.dumps(event.to_json())
    assert UnifiedEvent.from_json(json.loads(text)) == event


@settings(max_examples=120)
@given(events)
def test_to_json_is_the_schemas_object(event: UnifiedEvent) -> None:
    data = event.to_json()
    # Keys in the schema's order; delivery only when the event has one.
    expected_keys = SCHEMA_FIELDS + (["delivery"] if event.delivery is not None else [])
    assert list(data) == expected_keys
    assert isinstance(data["audience"], list)
    assert data["attributes"] is None or isinstance(data["attributes"], list)
    errors = list(schema_registry.validator(schema_registry.UNIFIED).iter_errors(data))
    assert errors == []


def test_delivery_is_absent_not_null_without_delivery_state() -> None:
    event = UnifiedEvent(
        event_id="e", source="v3", occurred_at="2020-01-27T16:53:50.739Z", payload={}
    )
    data = event.to_json()
    assert "delivery" not in data
    assert data["audience"] == []
    assert data["attributes"] is None


def test_delivery_json_carries_every_field() -> None:
    delivery = Delivery(
        state="success",
        attempts=1,
        status_code=200,
        endpoint="https://webhook.site/x",
        created_at="2020-01-27T16:53:50.815Z",
        updated_at="2020-01-27T16:53:51.554Z",
        record_id="28da8068-61cc-4af3-8d5e-ae49a02dd47b",
    )
    assert delivery.to_json() == {
        "state": "success",
        "attempts": 1,
        "status_code": 200,
        "endpoint": "https://webhook.site/x",
        "created_at": "2020-01-27T16:53:50.815Z",
        "updated_at": "2020-01-27T16:53:51.554Z",
        "record_id": "28da8068-61cc-4af3-8d5e-ae49a02dd47b",
    }
    assert Delivery.from_json(delivery.to_json()) == delivery


@pytest.mark.parametrize("missing", ["event_id", "payload", "v2_hash", "attributes"])
def test_from_json_names_a_missing_field(missing: str) -> None:
    data = UnifiedEvent(
        event_id="e", source="v2", occurred_at="2012-04-07T22:26:10.947Z", payload={"a": 1}
    ).to_json()
    del data[missing]
    with pytest.raises(ValueError, match=missing):
        UnifiedEvent.from_json(data)


def test_delivery_from_json_names_a_missing_field() -> None:
    with pytest.raises(ValueError, match="record_id"):
        Delivery.from_json(
            {
                "state": "success",
                "attempts": 1,
                "status_code": None,
                "endpoint": None,
                "created_at": None,
                "updated_at": None,
            }
        )
