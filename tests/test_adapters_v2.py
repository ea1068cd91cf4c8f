"""Webhooks v2 notifications → unified events: fields, the derived id, kind, hash, rejections."""

from __future__ import annotations

import copy
import json
import uuid
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    SEED_V2_EVENT,
    SEED_V2_NOTIFICATION,
    Timestamp,
    json_values,
    ms_text,
    outcome,
    v2_identity,
    v2_notifications,
)

from adapters import schema_registry
from adapters.errors import Rejection
from adapters.v2 import event_from_v2, v2_event_id

SEED = SEED_V2_NOTIFICATION
# The id is a UUIDv5 in a namespace fixed forever, of the notification's sorted compact JSON with
# the time normalised to UTC microseconds. Pinned: a change would re-key every stored v2 event.
V2_NAMESPACE = uuid.UUID("6f1c3c0e-5d2b-5a8e-9a57-2f0b6c1e7d41")
SEED_CANONICAL = (
    '{"client_id":"98765432198765432198765432198765","datetime":"2012-04-07T22:26:10.947000Z",'
    '"entity_type":"user","hash":"1234567891234567891234567891234567891234",'
    '"uuid":"12345678-4321-1234-4321-123456789123"}'
)
SEED_ID = "1b257a32-51ab-51b9-bb84-6a446f04ea63"


def rejection_of(notification: Any, **kwargs: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        event_from_v2(notification, **kwargs)
    return caught.value


def test_seed_id_is_the_pinned_uuid5() -> None:
    assert str(uuid.uuid5(V2_NAMESPACE, SEED_CANONICAL)) == SEED_ID
    event = event_from_v2(dict(SEED))
    assert event.event_id == SEED_ID
    assert uuid.UUID(event.event_id).version == 5


@pytest.mark.parametrize(
    ("kind", "event_type"),
    [
        ("ADD", "entityCreated"),
        ("UPDATE", "entityUpdated"),
        ("DELETE", "entityDeleted"),
        (None, None),
    ],
)
def test_kind_names_the_event_type(kind: Any, event_type: str | None) -> None:
    event = event_from_v2(dict(SEED), kind=kind)
    assert event.event_type == event_type
    # The kind is the webhook's, not the notification's: it does not change the event's identity.
    assert event.event_id == SEED_ID


def test_fields_map_as_the_contract_says() -> None:
    extra = dict(SEED, extra_field=[1, {"nested": None}])
    event = event_from_v2(extra)
    assert event.to_json() == {
        **SEED_V2_EVENT,
        "event_id": v2_event_id(extra),
        "payload": {**SEED, "extra_field": [1, {"nested": None}]},
    }
    assert event.event_id != SEED_ID  # the extra field is part of the notification


def test_matching_hash_converts_and_a_different_one_is_rejected_without_echoing_it() -> None:
    assert event_from_v2(dict(SEED), expected_hash=SEED["hash"]).v2_hash == SEED["hash"]
    secret = "f" * 40
    rejection = rejection_of(dict(SEED), expected_hash=secret)
    assert (rejection.reason, rejection.pointer) == ("hash_mismatch", "/hash")
    assert secret not in str(rejection)
    assert secret not in rejection.message


@pytest.mark.parametrize(
    ("same_a", "same_b"),
    [
        ("2012-04-07T22:26:10.947Z", "2012-04-07T22:26:10.947+00:00"),
        ("2012-04-07T22:26:10.947Z", "2012-04-07T22:26:10.947000Z"),
        ("2012-04-07T22:26:10.947Z", "2012-04-08T03:56:10.947+05:30"),
        ("2012-04-07T22:26:10.947Z", "2012-04-07t22:26:10.947z"),
        ("2012-04-07T22:26:10Z", "2012-04-07T22:26:10.000000000Z"),
    ],
)
def test_one_instant_spelled_two_ways_is_one_notification(same_a: str, same_b: str) -> None:
    assert v2_event_id(dict(SEED, datetime=same_a)) == v2_event_id(dict(SEED, datetime=same_b))


@pytest.mark.parametrize(
    "other",
    [
        "2012-04-07T22:26:10.948Z",  # a millisecond later
        "2012-04-07T22:26:10.9470001Z",  # 100 ns later: the events store writes nanoseconds
        "2012-04-07T22:26:10.947000001Z",  # 1 ns later
        "2012-04-07T22:26:10.9471Z",  # sub-millisecond
        "2012-04-07T22:26:10.947-00:01",  # a minute later, by its offset
    ],
)
def test_sub_millisecond_and_sub_microsecond_differences_are_different_notifications(
    other: str,
) -> None:
    assert v2_event_id(dict(SEED, datetime=other)) != SEED_ID


@settings(max_examples=150)
@given(v2_notifications(), st.randoms(use_true_random=False))
def test_id_is_deterministic_whatever_the_key_order(
    generated: tuple[dict[str, Any], Timestamp], rnd: Any
) -> None:
    notification, _ = generated
    items = list(notification.items())
    rnd.shuffle(items)
    reordered = dict(copy.deepcopy(items))
    assert v2_event_id(reordered) == v2_event_id(notification)
    assert event_from_v2(reordered).event_id == event_from_v2(notification).event_id


@settings(max_examples=120)
@given(st.lists(v2_notifications(), min_size=2, max_size=12), st.data())
def test_distinct_notifications_never_share_an_id(
    generated: list[tuple[dict[str, Any], Timestamp]], data: st.DataObject
) -> None:
    population = list(generated)
    # Add near neighbours of the first one, which random generation alone would rarely produce.
    base, when = generated[0]
    nudges = data.draw(
        st.lists(st.sampled_from(["1ns", "1us", "1ms", "field", "json"]), max_size=4)
    )
    for nudge in nudges:
        variant = dict(base)
        if nudge == "field":
            key = data.draw(st.sampled_from(["uuid", "entity_type", "hash", "client_id"]))
            variant[key] = base[key] + "0" if key != "uuid" else base[key].swapcase()
            population.append((variant, when))
            continue
        if nudge == "json":
            # 1 vs 1.0 vs true are different JSON values, hence different notifications.
            variant["n"] = data.draw(st.sampled_from([1, 1.0, True, "1", None, 2**64 + 1, 2**64]))
            population.append((variant, when))
            continue
        step = {"1ns": "000000001", "1us": "000001", "1ms": "001"}[nudge]
        seconds = when.seconds.strftime("%Y-%m-%dT%H:%M:%S")
        variant["datetime"] = f"{seconds}.{step}Z"
        stamp = Timestamp(variant["datetime"], when.seconds, Fraction(int(step), 10 ** len(step)))
        population.append((variant, stamp))
    ids: dict[str, str] = {}
    for notification, stamp in population:
        identity = v2_identity(notification, stamp)
        event_id = v2_event_id(notification)
        if event_id in ids:
            assert ids[event_id] == identity, "two different notifications share an id"
        ids[event_id] = identity
    identities = {v2_identity(n, t) for n, t in population}
    assert len(ids) == len(identities)


@settings(max_examples=150)
@given(v2_notifications(), st.sampled_from(["ADD", "UPDATE", "DELETE", None]))
def test_every_output_is_a_valid_unified_event(
    generated: tuple[dict[str, Any], Timestamp], kind: Any
) -> None:
    notification, when = generated
    received = copy.deepcopy(notification)
    event = event_from_v2(notification, kind=kind)
    data = json.loads(json.dumps(event.to_json()))
    assert list(schema_registry.validator(schema_registry.UNIFIED).iter_errors(data)) == []
    assert event.occurred_at == ms_text(when.seconds, when.fraction)
    assert event.entity_id == notification["uuid"]
    assert event.payload == received  # the notification exactly as received
    assert notification == received  # and not modified on the way


@pytest.mark.parametrize(
    ("change", "reason", "pointer"),
    [
        ({"uuid": None}, "schema", "/uuid"),
        ({"uuid": "not-a-uuid"}, "schema", "/uuid"),
        ({"entity_type": ""}, "schema", "/entity_type"),
        ({"hash": 1234}, "schema", "/hash"),
        ({"client_id": ["x"]}, "schema", "/client_id"),
        ({"datetime": "2012-04-07T22:26:10.947"}, "schema", "/datetime"),  # no offset: ambiguous
        ({"datetime": "2012-04-07"}, "schema", "/datetime"),
        ({"datetime": "2012-02-30T22:26:10Z"}, "bad_time", "/datetime"),
        ({"datetime": "2012-04-07T24:26:10Z"}, "bad_time", "/datetime"),
        ({"datetime": "2012-04-07T22:26:10+24:00"}, "bad_time", "/datetime"),
        ({"datetime": "2012-04-07T22:26:10+05:99"}, "bad_time", "/datetime"),
        ({"datetime": "2012-04-07T22:26:10.947Z\n"}, "bad_time", "/datetime"),
        ({"datetime": "0001-01-01T00:00:00+01:00"}, "bad_time", "/datetime"),  # before year 1
        ({"datetime": "9999-12-31T23:59:59-01:00"}, "bad_time", "/datetime"),  # after 9999
        ({"datetime": "9999-12-31T23:59:60Z"}, "bad_time", "/datetime"),
    ],
)
def test_invalid_notifications_are_rejected_precisely(
    change: dict[str, Any], reason: str, pointer: str
) -> None:
    rejection = rejection_of(dict(SEED, **change))
    assert (rejection.reason, rejection.pointer) == (reason, pointer)
    assert rejection.message


@pytest.mark.parametrize("missing", ["uuid", "entity_type", "datetime", "hash", "client_id"])
def test_a_missing_field_is_named_by_its_pointer(missing: str) -> None:
    notification = {k: v for k, v in SEED.items() if k != missing}
    rejection = rejection_of(notification)
    assert (rejection.reason, rejection.pointer) == ("schema", "/" + missing)
    assert missing in rejection.message


def test_a_leap_second_is_the_next_second() -> None:
    event = event_from_v2(dict(SEED, datetime="2016-12-31T23:59:60.5Z"))
    assert event.occurred_at == "2017-01-01T00:00:00.500Z"


@pytest.mark.parametrize("value", [None, [], [SEED], "text", 1, True, {}])
def test_a_non_notification_is_rejected_at_the_root(value: Any) -> None:
    rejection = rejection_of(value)
    assert rejection.reason == "schema"
    assert rejection.pointer in ("", "/uuid")  # {} is an object missing its first field


@settings(max_examples=150)
@given(json_values | st.dictionaries(st.sampled_from(list(SEED)), json_values))
def test_arbitrary_json_is_converted_or_rejected_never_a_crash(value: Any) -> None:
    result = outcome(event_from_v2, value)
    if isinstance(result, Rejection):
        assert result.reason in {"schema", "bad_time"}
    else:
        assert result.source == "v2"
