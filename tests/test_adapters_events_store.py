"""Events-store records → unified events with delivery state, the token decoded from the record."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import HEADER_ALG_KID, changed, compact, events_records, json_values, outcome

from adapters import schema_registry
from adapters.errors import Rejection
from adapters.events_store import event_from_record, token_of_record

FIXTURES = Path(__file__).parent / "fixtures"
SEED_RECORD: dict[str, Any] = json.loads(
    (FIXTURES / "seed-events-record-wrapped-token.json").read_text("utf-8")
)
CLAIMS = {
    "iss": "https://api.multi.dev.or.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
    "iat": 1580144030,
    "jti": "1e569bb5-c21d-4e9c-a1aa-7ec3b831bda2",
    "toe": 1580144030739,
    "events": {"entityUpdated": {"sub": "e499ac24-46bd-4d85-91ee-bdeadd446c1e"}},
}


def record(**changes: Any) -> dict[str, Any]:
    """A small valid record (clean token) with top-level members changed (``...`` removes)."""
    out: dict[str, Any] = {
        "id": "28da8068-61cc-4af3-8d5e-ae49a02dd47b",
        "createdAt": "2020-01-27T16:53:50.815936Z",
        "updatedAt": "2020-01-27T16:53:51.554764Z",
        "state": "success",
        "attempts": 1,
        "request": {
            "endpoint": "https://webhook.site/x",
            "payload": compact(HEADER_ALG_KID, CLAIMS),
        },
        "response": {"statusCode": 200},
        "eventType": "entityUpdated",
    }
    return changed(out, **changes)


def rejection_of(value: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        event_from_record(value)
    return caught.value


def test_the_seed_records_delivery_state() -> None:
    event = event_from_record(copy.deepcopy(SEED_RECORD))
    assert event.to_json()["delivery"] == {
        "state": "success",
        "attempts": 1,
        "status_code": 200,
        "endpoint": "https://webhook.site/46ff3c5e-ae95-43df-b32d-d07bb84746b4",
        "created_at": "2020-01-27T16:53:50.815Z",
        "updated_at": "2020-01-27T16:53:51.554Z",
        "record_id": "28da8068-61cc-4af3-8d5e-ae49a02dd47b",
    }


def test_optional_members_give_nulls() -> None:
    bare = record(createdAt=..., updatedAt=..., response=..., eventType=...)
    bare["request"] = {"payload": bare["request"]["payload"]}
    delivery = event_from_record(bare).to_json()["delivery"]
    assert delivery == {
        "state": "success",
        "attempts": 1,
        "status_code": None,
        "endpoint": None,
        "created_at": None,
        "updated_at": None,
        "record_id": "28da8068-61cc-4af3-8d5e-ae49a02dd47b",
    }


def test_integral_floats_come_out_as_integers() -> None:
    # JSON Schema calls 1.0 an integer; the unified event must not write "attempts": 1.0.
    event = event_from_record(record(attempts=6.0, response={"statusCode": 500.0}))
    delivery = event.to_json()["delivery"]
    assert (delivery["attempts"], delivery["status_code"]) == (6, 500)
    assert json.dumps(delivery).count(".0") == 0


def test_the_declared_event_type_must_match_the_token() -> None:
    rejection = rejection_of(record(eventType="entityDeleted"))
    assert (rejection.reason, rejection.pointer) == ("inconsistent", "/eventType")
    assert "entityDeleted" in rejection.message
    assert "entityUpdated" in rejection.message


@pytest.mark.parametrize(
    ("value", "reason", "pointer"),
    [
        (record(request=...), "schema", "/request"),
        (record(request={"endpoint": "x"}), "schema", "/request/payload"),
        (record(request={"payload": ""}), "schema", "/request/payload"),
        (record(request={"payload": 7}), "schema", "/request/payload"),
        (
            record(request={"payload": "x", "headers": {"Content-Length": 1293}}),
            "schema",
            "/request/headers/Content-Length",
        ),
        (record(id=...), "schema", "/id"),
        (record(state=...), "schema", "/state"),
        (record(attempts=-1), "schema", "/attempts"),
        (record(attempts="1"), "schema", "/attempts"),
        (record(attempts=True), "schema", "/attempts"),
        (record(response={"statusCode": "200"}), "schema", "/response/statusCode"),
        (record(createdAt="yesterday"), "schema", "/createdAt"),
        (record(createdAt="2020-02-30T16:53:50Z"), "bad_time", "/createdAt"),
        (record(updatedAt="2020-01-27T16:53:51+25:00"), "bad_time", "/updatedAt"),
        (record(eventType=1), "schema", "/eventType"),
        (record(_links={"self": {}}), "schema", "/_links/self/href"),
        (record(request={"payload": "not a token"}), "bad_token", "/request/payload"),
        (record(request={"payload": "eyJ.e30.c2ln"}), "bad_token", "/request/payload/header"),
        (
            record(request={"payload": compact(HEADER_ALG_KID, {**CLAIMS, "toe": "soon"})}),
            "schema",
            "/request/payload/claims/toe",
        ),
        (
            record(request={"payload": compact(HEADER_ALG_KID, {**CLAIMS, "events": {}})}),
            "no_event",
            "/request/payload/claims/events",
        ),
        (
            record(request={"payload": compact({"kid": "k"}, CLAIMS)}),
            "schema",
            "/request/payload/header/alg",
        ),
        ([SEED_RECORD], "schema", ""),
        ("record", "schema", ""),
    ],
)
def test_invalid_records_are_rejected_precisely(value: Any, reason: str, pointer: str) -> None:
    rejection = rejection_of(value)
    assert (rejection.reason, rejection.pointer) == (reason, pointer)
    assert rejection.message


def test_token_of_record_decodes_without_converting() -> None:
    token = token_of_record(copy.deepcopy(SEED_RECORD))
    assert token.header == HEADER_ALG_KID
    assert token.claims["jti"] == "1e569bb5-c21d-4e9c-a1aa-7ec3b831bda2"


@settings(max_examples=120)
@given(events_records())
def test_every_record_gives_a_valid_event_with_its_delivery(
    generated: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    value, claims = generated
    received = copy.deepcopy(value)
    event = event_from_record(value)
    data = json.loads(json.dumps(event.to_json()))
    assert list(schema_registry.validator(schema_registry.UNIFIED).iter_errors(data)) == []
    assert data["payload"] == claims  # the decoded token, not the record
    assert data["event_id"] == claims["jti"]
    delivery = data["delivery"]
    assert delivery["state"] == value["state"]
    assert delivery["attempts"] == value["attempts"]
    assert delivery["record_id"] == value["id"]
    assert delivery["status_code"] == value.get("response", {}).get("statusCode")
    assert delivery["endpoint"] == value["request"]["endpoint"]
    assert value == received


@settings(max_examples=120)
@given(
    json_values
    | events_records().flatmap(
        lambda r: st.sampled_from(sorted(r[0])).flatmap(
            lambda k: json_values.map(lambda v: {**r[0], k: v})
        )
    )
)
def test_arbitrary_values_are_converted_or_rejected_never_a_crash(value: Any) -> None:
    result = outcome(event_from_record, value)
    if isinstance(result, Rejection):
        assert result.reason in {
            "schema",
            "bad_token",
            "bad_time",
            "inconsistent",
            "no_event",
            "multiple_events",
        }
    else:
        assert result.delivery is not None
