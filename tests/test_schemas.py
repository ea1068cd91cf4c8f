"""The shipped JSON Schemas: well-formed, resolvable offline, true to the documented examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from adapters import schema_registry
from adapters.unified import UnifiedEvent

FIXTURES = Path(__file__).parent / "fixtures"
SHIPPED = [
    "events-record",
    "export-job",
    "set-claims",
    "set-header",
    "summary",
    "unified-event",
    "v2-notification",
    "v2-payload",
]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def test_the_eight_schemas_are_shipped_and_well_formed() -> None:
    assert list(schema_registry.names()) == SHIPPED
    ids = set()
    for name in SHIPPED:
        schema = schema_registry.load(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith("/" + name + ".schema.json")
        ids.add(schema["$id"])
    assert len(ids) == len(SHIPPED)


def test_an_unknown_schema_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="set-claims"):
        schema_registry.load("set-claim")


@pytest.mark.parametrize(
    ("name", "fixture_name"),
    [
        ("v2-payload", "seed-v2-payload.json"),
        ("summary", "seed-summary.json"),
        ("events-record", "seed-events-record-wrapped-token.json"),
        ("set-claims", "seed-decoded-set-aud-string.json"),
        ("set-claims", "seed-export-line.ndjson"),
        ("set-header", "seed-set-header-jku-typ.json"),
    ],
)
def test_the_documented_examples_are_valid(name: str, fixture_name: str) -> None:
    document = fixture(fixture_name)
    assert list(schema_registry.validator(name).iter_errors(document)) == []
    assert schema_registry.explain(name, document) is None


def test_each_v2_notification_of_the_seed_is_valid_on_its_own() -> None:
    for notification in fixture("seed-v2-payload.json"):
        assert schema_registry.validator("v2-notification").is_valid(notification)


def test_the_unified_schema_lists_exactly_the_events_fields() -> None:
    schema = schema_registry.load("unified-event")
    emitted = UnifiedEvent(
        event_id="e", source="v3", occurred_at="2020-01-27T16:53:50.739Z", payload={}
    ).to_json()
    assert list(emitted) == schema["required"]
    assert set(schema["properties"]) == {*schema["required"], "delivery"}
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2020-01-27T16:53:50Z",
        "2020-01-27T16:53:50.739+00:00",
        "2020-01-27T16:53:50.7391Z",
        "2020-01-27 16:53:50.739Z",
    ],
)
def test_unified_times_are_only_utc_milliseconds(occurred_at: str) -> None:
    event = UnifiedEvent(event_id="e", source="v3", occurred_at=occurred_at, payload={}).to_json()
    problem = schema_registry.explain("unified-event", event)
    assert problem is not None
    assert problem.pointer == "/occurred_at"


def test_a_missing_member_is_pointed_at_by_name() -> None:
    claims = fixture("seed-export-line.ndjson")
    del claims["jti"]
    problem = schema_registry.explain("set-claims", claims)
    assert problem is not None
    assert (problem.pointer, problem.message) == ("/jti", "required property 'jti' is missing")


def test_an_unexpected_member_of_a_unified_event_is_refused() -> None:
    event = UnifiedEvent(
        event_id="e", source="v2", occurred_at="2012-04-07T22:26:10.947Z", payload={}
    ).to_json()
    event["surprise"] = 1
    problem = schema_registry.explain("unified-event", event)
    assert problem is not None
    assert problem.pointer == ""
    assert "surprise" in problem.message


def test_problems_come_in_document_order_with_short_messages() -> None:
    summary = fixture("seed-summary.json")
    summary.update(total="100", failed=-1, updatedAt="x" * 1000)
    found = list(schema_registry.problems("summary", summary))
    assert [p.pointer for p in found] == ["/failed", "/total", "/updatedAt"]
    assert all(len(p.message) <= 300 for p in found)


def test_the_summary_invariants_are_not_the_schemas_business() -> None:
    # total = succeeded + retrying + failed cannot be said in JSON Schema: validate checks it.
    summary = dict(fixture("seed-summary.json"), total=1)
    assert schema_registry.validator("summary").is_valid(summary)
