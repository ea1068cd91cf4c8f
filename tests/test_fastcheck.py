"""The compiled fast predicates give jsonschema's verdict, for every shipped schema and beyond."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from strategies import (
    HEADER_ALG_KID,
    HEADER_JKU_TYP,
    events_records,
    json_values,
    rfc3339,
    v2_notifications,
    v3_claims,
)

from adapters import schema_registry
from adapters.claims import event_from_claims
from adapters.events_store import event_from_record
from adapters.fastcheck import Unsupported, compile_check
from adapters.fastgen import generate_check
from adapters.v2 import event_from_v2

counts = st.integers(min_value=0, max_value=10**6)

summaries = st.builds(
    lambda when, s, r, f, e: {
        "updatedAt": when.text,
        "total": s + r + f,
        "succeeded": s,
        "retrying": r,
        "failed": f,
        "exportable": min(e, f),
    },
    rfc3339(),
    counts,
    counts,
    counts,
    counts,
)
export_jobs = st.fixed_dictionaries(
    {"id": st.uuids().map(str), "state": st.sampled_from(["active", "canceled", "completed"])},
    optional={
        "createdAt": rfc3339().map(lambda t: t.text),
        "_links": st.just({"self": {"href": "/x"}, "download": {"href": "/x/download"}}),
    },
)
headers = st.sampled_from([HEADER_ALG_KID, HEADER_JKU_TYP]).map(dict)
unified_events = st.one_of(
    v3_claims().map(lambda c: event_from_claims(c).to_json()),
    v2_notifications().map(lambda n: event_from_v2(n[0], kind="ADD").to_json()),
    events_records().map(lambda r: event_from_record(r[0]).to_json()),
)

# A generator of valid documents for every shipped schema: a new schema must add one here.
VALID_DOCUMENTS: dict[str, st.SearchStrategy[Any]] = {
    schema_registry.V2_NOTIFICATION: v2_notifications().map(lambda n: n[0]),
    schema_registry.V2_PAYLOAD: st.lists(v2_notifications().map(lambda n: n[0]), max_size=3),
    schema_registry.SET_HEADER: headers,
    schema_registry.SET_CLAIMS: v3_claims(),
    schema_registry.EVENTS_RECORD: events_records().map(lambda r: r[0]),
    schema_registry.SUMMARY: summaries,
    schema_registry.EXPORT_JOB: export_jobs,
    schema_registry.UNIFIED: unified_events,
}

# Values that tell careless type checks apart: bool vs int, 1.0 vs 1, "1" vs 1, NaN, long text.
CONFUSABLES: list[Any] = [
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    -0.0,
    "1",
    "",
    None,
    [],
    {},
    [1],
    {"a": 1},
    2**64,
    -(2**63),
    1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
    "x" * 256,
    "2020-01-27T16:53:50.739Z",
    "\u00e9" * 300,
]


# Drawn as copies: a mutation may edit a drawn container in place later on.
confusables = st.sampled_from(CONFUSABLES).map(copy.deepcopy)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc`` (the root included)."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += paths(value, (*prefix, index))
    return found


def container(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid document with one to three edits: the near misses a schema exists to catch."""
    doc = copy.deepcopy(draw(valid))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths(doc)))
        op = draw(st.sampled_from(["replace", "confuse", "drop", "add", "events"]))
        if op == "events" and isinstance(doc, dict) and isinstance(doc.get("events"), dict):
            # A second event, or an event body that is not an object.
            doc["events"][draw(st.text(max_size=12))] = draw(st.builds(dict) | json_values)
            continue
        if not path:
            doc = draw(confusables | json_values) if op != "add" else doc
            continue
        parent, last = container(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[last] = draw(json_values)
        elif op == "confuse":
            parent[last] = draw(confusables)
        elif op == "drop":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(confusables | json_values)
        else:
            parent.append(draw(json_values))
    return doc


def test_every_shipped_schema_has_a_document_generator_and_compiles() -> None:
    assert sorted(VALID_DOCUMENTS) == sorted(schema_registry.names())
    for name in schema_registry.names():
        # Compiled, not the jsonschema fallback: otherwise agreement would hold trivially.
        compile_check(schema_registry.load(name), schema_registry.registry())
        # ...and generated, which is what the hot path uses.
        generate_check(schema_registry.load(name), schema_registry.registry())
        assert schema_registry.fast_check(name) is not schema_registry.validator(name).is_valid


@pytest.mark.parametrize("name", sorted(VALID_DOCUMENTS))
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_generated_closures_and_jsonschema_agree(name: str, data: st.DataObject) -> None:
    valid = VALID_DOCUMENTS[name]
    instance = data.draw(st.one_of(valid, mutated(valid), json_values), label="instance")
    schema, registry = schema_registry.load(name), schema_registry.registry()
    expected = schema_registry.validator(name).is_valid(instance)
    assert compile_check(schema, registry)(instance) is expected
    assert generate_check(schema, registry)(instance) is expected


@pytest.mark.parametrize("name", sorted(VALID_DOCUMENTS))
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_fast_check_agrees_with_jsonschema(name: str, data: st.DataObject) -> None:
    valid = VALID_DOCUMENTS[name]
    instance = data.draw(st.one_of(valid, mutated(valid), json_values), label="instance")
    expected = schema_registry.validator(name).is_valid(instance)
    assert schema_registry.fast_check(name)(instance) is expected


@pytest.mark.parametrize("name", sorted(VALID_DOCUMENTS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_generated_documents_are_valid(name: str, data: st.DataObject) -> None:
    # The generators above are what the mutations start from; they must really be valid.
    instance = data.draw(VALID_DOCUMENTS[name])
    assert list(schema_registry.validator(name).iter_errors(instance)) == []


# The compiler handles keywords the shipped schemas do not use (yet); check them on their own.
EXTRA_SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": {"type": "string"},
    },
    {
        "type": "object",
        "properties": {"a": {"type": "number"}},
        "patternProperties": {"^b": {"maximum": 3}},
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 2,
    },
    {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "items": {"type": "boolean"},
        "minItems": 1,
        "maxItems": 3,
    },
    {"oneOf": [{"type": "integer"}, {"type": "number", "exclusiveMinimum": 0}]},
    {"anyOf": [{"const": 1}, {"enum": [None, [1, 2], {"a": 1.0}, "x", False]}]},
    {"not": {"type": ["string", "null"]}, "exclusiveMaximum": 10},
    {"allOf": [{"minimum": -1.5}, {"maximum": 1e10}], "type": "number"},
    {
        "$defs": {"node": {"type": ["array", "integer"], "items": {"$ref": "#/$defs/node"}}},
        "$ref": "#/$defs/node",
    },
    {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]"},
    {"enum": [1, True, 0.0, ""]},
    {"const": {"a": [1, True]}},
]
extra_values = st.recursive(
    confusables | json_values,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "bb", "x-1", "x-", "c"]), inner, max_size=3)
    ),
    max_leaves=8,
)


def _pair(schema: dict[str, Any]) -> tuple[Callable[[Any], bool], Callable[[Any], bool]]:
    full = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return compile_check(full, Registry()), Draft202012Validator(full).is_valid


@pytest.mark.parametrize("pair", [_pair(s) for s in EXTRA_SCHEMAS], ids=lambda p: "")
@settings(max_examples=100, deadline=None)
@given(instance=extra_values)
def test_compiled_keywords_agree_with_jsonschema(
    pair: tuple[Callable[[Any], bool], Callable[[Any], bool]], instance: Any
) -> None:
    fast, full = pair
    assert fast(instance) is full(instance)


def _generated(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    full = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    try:
        return generate_check(full, Registry())
    except Unsupported:
        return None


@pytest.mark.parametrize("schema", EXTRA_SCHEMAS, ids=lambda s: "")
@settings(max_examples=100, deadline=None)
@given(instance=extra_values)
def test_generated_keywords_agree_with_jsonschema_or_are_refused(
    schema: dict[str, Any], instance: Any
) -> None:
    generated = _generated(schema)
    if generated is None:  # outside the generated subset: the closures take it
        return
    full = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    assert generated(instance) is Draft202012Validator(full).is_valid(instance)


def test_the_generator_refuses_what_it_does_not_generate() -> None:
    # The shipped schemas are all generated (above); the exotic keywords here are left to the
    # closure compiler, at any depth.
    assert _generated({"allOf": [{"minimum": 0}], "type": "number"}) is not None
    for schema in (
        {"oneOf": [{"type": "integer"}]},
        {"type": "object", "patternProperties": {"^b": {}}},
        {"properties": {"a": {"items": {"const": 1}}}},
        {"type": "array", "prefixItems": [{"type": "integer"}]},
    ):
        with pytest.raises(Unsupported):
            generate_check(schema, Registry())


def test_refs_across_shipped_files_resolve_offline() -> None:
    # v2-payload refers to v2-notification by a relative $id: no network, same verdicts.
    check = schema_registry.fast_check(schema_registry.V2_PAYLOAD)
    assert check([]) is True
    assert check([{"uuid": "x"}]) is False


@pytest.mark.parametrize("keyword", [{"uniqueItems": True}, {"if": {}, "then": {}}])
def test_an_unknown_keyword_is_refused_not_ignored(keyword: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        compile_check({"type": "array", **keyword}, Registry())


def test_a_registry_resource_is_compiled_through_ref() -> None:
    target = {"$id": "https://example.invalid/t.json", "type": "integer", "minimum": 1}
    registry = Registry().with_resource(
        target["$id"],
        Resource.from_contents(
            {"$schema": "https://json-schema.org/draft/2020-12/schema", **target}
        ),
    )
    check = compile_check({"$ref": "https://example.invalid/t.json"}, registry)
    assert [check(v) for v in (1, 1.0, 0, True, "1")] == [True, True, False, False, False]
