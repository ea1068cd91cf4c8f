"""Decoded v3 claims (and bulk-export lines, which are exactly claims) → unified events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import changed, json_objects, json_values, outcome, v3_claims

from adapters import schema_registry
from adapters.claims import claims_from_event, event_from_claims
from adapters.errors import Rejection
from adapters.export import event_from_export_line
from adapters.v2 import event_from_v2

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE: dict[str, Any] = {
    "iss": "Akamai Identity Cloud",
    "iat": 1563488631,
    "jti": "b70046bd-44c7-4575-b1a2-9b8556d1f040",
    "events": {"entityUpdated": {"sub": "6b004bc5-179c-45c2-815d-31b06169371d"}},
}


def claims(**changes: Any) -> dict[str, Any]:
    return changed(BASE, **changes)


def rejection_of(value: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        event_from_claims(value)
    return caught.value


def parse_ms(text: str) -> datetime:
    assert text.endswith("Z"), text
    assert len(text) == 24, text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@settings(max_examples=150)
@given(v3_claims())
def test_claims_to_unified_to_claims_is_the_identity(generated: dict[str, Any]) -> None:
    received = copy.deepcopy(generated)
    event = event_from_claims(generated)
    assert claims_from_event(event) == received
    # Through JSON text as well: what convert writes is what a reader gets back.
    text = json.dumps(event.to_json())
    assert json.loads(text)["payload"] == received
    assert generated == received  # the input is not modified


@settings(max_examples=150)
@given(v3_claims())
def test_every_output_is_a_valid_unified_event_with_the_contracts_fields(
    generated: dict[str, Any],
) -> None:
    event = event_from_export_line(generated)
    data = json.loads(json.dumps(event.to_json()))
    assert list(schema_registry.validator(schema_registry.UNIFIED).iter_errors(data)) == []

    ((event_type, body),) = generated["events"].items()
    aud = generated.get("aud")
    assert data["event_id"] == generated["jti"]
    assert data["source"] == "v3"
    assert data["event_type"] == event_type
    assert data["entity_type"] == body.get("entityType")
    assert data["entity_id"] == body.get("sub")
    assert data["client_id"] == body.get("captureClientId")
    assert data["application_id"] == body.get("captureApplicationId")
    assert data["global_sub"] == body.get("globalSub")
    assert data["issuer"] == generated["iss"]
    assert data["audience"] == ([] if aud is None else [aud] if isinstance(aud, str) else aud)
    assert data["transaction_id"] == generated.get("txn")
    assert data["event_object_id"] == body.get("id")
    assert data["attributes"] == body.get("attributes")
    assert data["credential_type"] == body.get("credentialType")
    assert data["v2_hash"] is None
    assert "delivery" not in data

    # occurred_at is toe (seconds, or milliseconds when that large), else iat; truncated to ms.
    toe = generated.get("toe")
    when = Fraction(toe if toe is not None else generated["iat"])
    if toe is not None and toe >= 100_000_000_000:
        when /= 1000
    for field, exact in (("occurred_at", when), ("issued_at", Fraction(generated["iat"]))):
        shown = parse_ms(data[field]) - EPOCH
        shown_seconds = Fraction(shown.days * 86400 + shown.seconds) + Fraction(
            shown.microseconds, 10**6
        )
        # Truncated to the millisecond (floats may round by half a microsecond on the way).
        assert exact - Fraction(1, 10**3) < shown_seconds <= exact + Fraction(1, 10**6), field


@pytest.mark.parametrize(
    ("toe", "occurred_at"),
    [
        (1559372400, "2019-06-01T07:00:00.000Z"),
        (1580144030739, "2020-01-27T16:53:50.739Z"),  # the events-store token: milliseconds
        (99_999_999_999, "5138-11-16T09:46:39.000Z"),  # the largest value read as seconds
        (100_000_000_000, "1973-03-03T09:46:40.000Z"),  # the smallest read as milliseconds
        (0, "1970-01-01T00:00:00.000Z"),
        (1559372400.9999, "2019-06-01T07:00:00.999Z"),  # truncated, not rounded
        (None, "2019-07-18T22:23:51.000Z"),  # no toe: iat
    ],
)
def test_occurred_at_from_toe_or_iat(toe: Any, occurred_at: str) -> None:
    event = event_from_claims(claims(toe=toe) if toe is not None else claims())
    assert event.occurred_at == occurred_at
    assert event.issued_at == "2019-07-18T22:23:51.000Z"


@pytest.mark.parametrize(
    ("aud", "audience"),
    [
        ("https://example.com/path/to/endpoint", ("https://example.com/path/to/endpoint",)),
        (["https://a.example", "https://b.example"], ("https://a.example", "https://b.example")),
        ([], ()),
        (..., ()),
    ],
)
def test_audience_is_always_a_list(aud: Any, audience: tuple[str, ...]) -> None:
    event = event_from_claims(claims(aud=aud))
    assert event.audience == audience
    assert event.to_json()["audience"] == list(audience)


@pytest.mark.parametrize(
    ("value", "reason", "pointer"),
    [
        (claims(events={}), "no_event", "/events"),
        (claims(events=...), "schema", "/events"),
        (claims(events=[{"entityCreated": {}}]), "schema", "/events"),
        (claims(events={"entityCreated": "user"}), "schema", "/events/entityCreated"),
        (
            claims(events={"entityUpdated": {"attributes": ["a", 1]}}),
            "schema",
            "/events/entityUpdated/attributes/1",
        ),
        (
            claims(events={"entityUpdated": {"sub": "x" * 256}}),
            "schema",
            "/events/entityUpdated/sub",
        ),
        (claims(toe="1559372400"), "schema", "/toe"),
        (claims(toe=-1), "schema", "/toe"),
        (claims(iat=True), "schema", "/iat"),
        (claims(iat=...), "schema", "/iat"),
        (claims(iss=""), "schema", "/iss"),
        (claims(jti=""), "schema", "/jti"),
        (claims(jti="j" * 256), "schema", "/jti"),
        (claims(jti=12345), "schema", "/jti"),
        (claims(aud=42), "schema", "/aud"),
        (claims(aud=["ok", None]), "schema", "/aud/1"),
        (claims(txn=0), "schema", "/txn"),
        (claims(toe=10**20), "bad_time", "/toe"),
        (claims(toe=float("inf")), "bad_time", "/toe"),
        (claims(iat=1e300), "bad_time", "/iat"),
        (claims(iat=1e300, toe=1559372400), "bad_time", "/iat"),  # the culprit, not toe
        (claims(events={"": {}}), "schema", "/events/"),  # an event type must have a name
        ([], "schema", ""),
        ("claims", "schema", ""),
        (None, "schema", ""),
    ],
)
def test_invalid_claims_are_rejected_precisely(value: Any, reason: str, pointer: str) -> None:
    rejection = rejection_of(value)
    assert (rejection.reason, rejection.pointer) == (reason, pointer)
    assert rejection.message


def test_two_event_types_are_named_in_the_rejection() -> None:
    rejection = rejection_of(claims(events={"entityUpdated": {}, "entityCreated": {}}))
    assert (rejection.reason, rejection.pointer) == ("multiple_events", "/events")
    assert "entityCreated" in rejection.message
    assert "entityUpdated" in rejection.message


@pytest.mark.parametrize("field", ["iat", "toe"])
@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_non_finite_times_are_rejected_not_a_crash(field: str, value: float) -> None:
    # Python's json module reads NaN and -Infinity; whatever hands us such claims gets a reason.
    rejection = rejection_of(claims(**{field: value}))
    assert rejection.reason in {"schema", "bad_time"}
    assert rejection.pointer == "/" + field


def test_unknown_claims_and_members_are_kept_in_the_payload() -> None:
    value = claims(extra={"kept": [1, 2.5, None]})
    value["events"]["entityUpdated"]["futureField"] = True
    event = event_from_claims(copy.deepcopy(value))
    assert event.payload == value


def test_claims_of_a_v2_event_do_not_exist() -> None:
    v2 = event_from_v2(
        {
            "uuid": "12345678-4321-1234-4321-123456789123",
            "entity_type": "user",
            "datetime": "2012-04-07T22:26:10.947Z",
            "hash": "1234567891234567891234567891234567891234",
            "client_id": "98765432198765432198765432198765",
        }
    )
    with pytest.raises(ValueError, match="v2"):
        claims_from_event(v2)


@settings(max_examples=150)
@given(
    json_values
    | json_objects
    | v3_claims().flatmap(
        lambda c: st.sampled_from(list(c)).flatmap(lambda k: json_values.map(lambda v: {**c, k: v}))
    )
)
def test_arbitrary_values_are_converted_or_rejected_never_a_crash(value: Any) -> None:
    result = outcome(event_from_claims, value)
    if isinstance(result, Rejection):
        assert result.reason in {"schema", "no_event", "multiple_events", "bad_time"}
        assert result.pointer == "" or result.pointer.startswith("/")
    else:
        data = json.loads(json.dumps(result.to_json()))
        assert schema_registry.validator(schema_registry.UNIFIED).is_valid(data)


def test_time_of_event_bounds_are_exact() -> None:
    # The last millisecond a datetime can show is accepted; one more is out of range.
    assert event_from_claims(claims(toe=253402300799999)).occurred_at == "9999-12-31T23:59:59.999Z"
    assert rejection_of(claims(toe=253402300800000)).pointer == "/toe"
    assert event_from_claims(claims(iat=253402300799)).issued_at == "9999-12-31T23:59:59.000Z"
    assert rejection_of(claims(iat=253402300800)).reason == "bad_time"
