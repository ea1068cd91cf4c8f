"""Properties of ``schema diff``, checked against jsonschema as the oracle.

* A schema is fully compatible with itself (no change at all).
* For generated changes: when diff says backward-compatible (strict), every document generated
  from OLD validates under NEW; when it says forward-compatible, every document generated from
  NEW validates under OLD. Under lenient, the same holds for documents that carry no property
  their schema leaves unconstrained (the lenient policy's documented assumption).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from adapters import schema_registry
from migrate.schemacompat import Mode, Policy, Verdict, compare_sides, is_compatible, load_shipped
from migrate.schemacompat.loading import build_side, layered_registry

NAMES = ["a", "b", "c"]
PATTERNS = ["^a", "^[a-c]*$", "c$"]
SCALARS: list[Any] = [0, 1, 2, -1, 1.5, "a", "b", "", "ab", True, False, None]
ANY_VALUES: list[Any] = [*SCALARS, [], [1], ["a", "b"], {}, {"a": 1}, {"x1": "a"}]
TYPES: list[Any] = ["string", "integer", "number", "boolean", "null", "object", "array"]

SETTINGS = settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def diff(old: Any, new: Any) -> list[Any]:
    registry = layered_registry([])
    return compare_sides(
        build_side("old", old, "urn:test:old", registry),
        build_side("new", new, "urn:test:new", registry),
    )


# -- schemas ----------------------------------------------------------------------------------


@st.composite
def leaf_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["string", "integer", "number", "boolean", "null", "enum", "multi", "any"])
    )
    if kind == "string":
        node: dict[str, Any] = {"type": "string"}
        if draw(st.booleans()):
            node["minLength"] = draw(st.integers(0, 2))
        if draw(st.booleans()):
            node["maxLength"] = draw(st.integers(2, 5))
        if draw(st.integers(0, 3)) == 0:
            node["pattern"] = draw(st.sampled_from(PATTERNS))
        return node
    if kind in ("integer", "number"):
        node = {"type": kind}
        for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if draw(st.integers(0, 3)) == 0:
                node[keyword] = draw(st.integers(-3, 3))
        if kind == "integer" and draw(st.integers(0, 3)) == 0:
            node["multipleOf"] = draw(st.sampled_from([1, 2, 3]))
        return node
    if kind == "enum":
        values = draw(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=3, unique_by=repr))
        return {"enum": values}
    if kind == "multi":
        return {"type": draw(st.sampled_from([["string", "null"], ["integer", "string"]]))}
    if kind == "any":
        return {}
    return {"type": kind}


@st.composite
def schemas(draw: st.DrawFn, depth: int = 2) -> dict[str, Any]:
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(leaf_schemas())
    kind = draw(st.sampled_from(["object", "object", "array", "anyOf", "oneOf", "allOf"]))
    child = schemas(depth - 1)
    if kind == "object":
        names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
        node: dict[str, Any] = {"type": "object", "properties": {n: draw(child) for n in names}}
        required = [n for n in names if draw(st.booleans())]
        if required:
            node["required"] = required
        additional = draw(st.sampled_from(["absent", "true", "false", "schema"]))
        if additional != "absent":
            node["additionalProperties"] = {"true": True, "false": False}.get(additional) or draw(
                leaf_schemas()
            )
        if draw(st.integers(0, 3)) == 0:
            node["patternProperties"] = {"^x": draw(leaf_schemas())}
        return node
    if kind == "array":
        node = {"type": "array", "items": draw(child)}
        if draw(st.integers(0, 3)) == 0:
            node["prefixItems"] = [draw(leaf_schemas())]
        if draw(st.booleans()):
            node["maxItems"] = draw(st.integers(1, 3))
        return node
    if kind == "allOf":
        return {"allOf": [draw(child), draw(child)]}
    return {kind: [draw(child), draw(child)]}


def subschema_paths(schema: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not isinstance(schema, dict):
        return []
    found = [path]
    for key in ("items", "additionalProperties"):
        found += subschema_paths(schema.get(key), (*path, key))
    for key in ("properties", "patternProperties"):
        for name, sub in schema.get(key, {}).items():
            found += subschema_paths(sub, (*path, key, name))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key, [])):
            found += subschema_paths(sub, (*path, key, i))
    return found


def _mutate_node(draw: st.DrawFn, node: dict[str, Any]) -> Any:
    op = draw(
        st.sampled_from(
            [
                "retype",
                "drop_type",
                "bound",
                "pattern",
                "enum",
                "add_prop",
                "drop_prop",
                "required",
                "additional",
                "pattern_props",
                "items",
                "branch",
                "wrap_any_of",
                "replace",
                "not",
            ]
        )
    )
    new = copy.deepcopy(node)
    if op == "retype":
        new["type"] = draw(st.sampled_from([*TYPES, ["string", "null"], ["integer", "number"]]))
    elif op == "drop_type":
        new.pop("type", None)
    elif op == "bound":
        keyword = draw(
            st.sampled_from(
                [
                    *("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
                    *("minLength", "maxLength", "minItems", "maxItems", "multipleOf"),
                    "minProperties",
                ]
            )
        )
        if draw(st.booleans()):
            new.pop(keyword, None)
        elif keyword == "multipleOf":
            new[keyword] = draw(st.sampled_from([1, 2, 3, 6]))
        elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            new[keyword] = draw(st.integers(-3, 3))
        else:
            new[keyword] = draw(st.integers(0, 4))
    elif op == "pattern":
        if draw(st.booleans()):
            new.pop("pattern", None)
        else:
            new["pattern"] = draw(st.sampled_from(PATTERNS))
    elif op == "enum":
        values: list[Any] = list(new.get("enum", []))
        if len(values) > 1 and draw(st.booleans()):
            values.pop(draw(st.integers(0, len(values) - 1)))
        else:
            values.append(draw(st.sampled_from(SCALARS)))
        unique = list({repr(v): v for v in values}.values())
        if unique:
            new["enum"] = unique
        else:
            new.pop("enum", None)
    elif op == "add_prop":
        new.setdefault("properties", {})[draw(st.sampled_from(NAMES))] = draw(leaf_schemas())
    elif op == "drop_prop" and new.get("properties"):
        new["properties"].pop(draw(st.sampled_from(sorted(new["properties"]))))
    elif op == "required":
        required = list(new.get("required", []))
        name = draw(st.sampled_from(NAMES))
        required = [r for r in required if r != name] if name in required else [*required, name]
        new["required"] = required
    elif op == "additional":
        choice = draw(st.sampled_from(["absent", "true", "false", "schema"]))
        new.pop("additionalProperties", None)
        if choice != "absent":
            new["additionalProperties"] = {"true": True, "false": False}.get(choice) or draw(
                leaf_schemas()
            )
    elif op == "pattern_props":
        if "patternProperties" in new and draw(st.booleans()):
            del new["patternProperties"]
        else:
            new["patternProperties"] = {draw(st.sampled_from(["^x", "^a"])): draw(leaf_schemas())}
    elif op == "items":
        new["items"] = draw(leaf_schemas())
    elif op == "branch":
        keyword = next((k for k in ("anyOf", "oneOf") if k in new), "anyOf")
        branches = list(new.get(keyword, []))
        if len(branches) > 1 and draw(st.booleans()):
            branches.pop(draw(st.integers(0, len(branches) - 1)))
        else:
            branches.append(draw(leaf_schemas()))
        new[keyword] = branches
    elif op == "wrap_any_of":
        return {"anyOf": [new, draw(leaf_schemas())]}
    elif op == "replace":
        return draw(leaf_schemas())
    elif op == "not":
        if "not" in new:
            del new["not"]
        else:
            new["not"] = draw(leaf_schemas())
    return new


def _set_at(schema: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    root = copy.deepcopy(schema)
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return root


def _get_at(schema: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        schema = schema[step]
    return schema


@st.composite
def mutated(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    new: Any = schema
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(subschema_paths(new)))
        new = _set_at(new, path, _mutate_node(draw, _get_at(new, path)))
    return new


# -- documents --------------------------------------------------------------------------------


def draw_instance(data: st.DataObject, schema: Any, extras: bool, depth: int = 0) -> Any:
    """A document aimed at ``schema``; callers keep only the ones that really validate."""
    if schema is True or schema == {} or depth > 6:
        return data.draw(st.sampled_from(ANY_VALUES))
    if schema is False:
        return data.draw(st.sampled_from(ANY_VALUES))
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            branch = data.draw(st.sampled_from(schema[keyword]))
            rest = {k: v for k, v in schema.items() if k != keyword}
            merged = {**rest, **branch} if isinstance(branch, dict) else rest
            return draw_instance(data, merged, extras, depth + 1)
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged = {**part, **merged}
        return draw_instance(data, merged, extras, depth + 1)
    if "enum" in schema:
        return data.draw(st.sampled_from(schema["enum"]))
    declared = schema.get("type")
    if declared is None:
        guessed = [
            t
            for t, keys in (
                ("object", ("properties", "additionalProperties", "patternProperties")),
                ("array", ("items", "prefixItems")),
                ("string", ("pattern", "minLength", "maxLength")),
                ("integer", ("minimum", "maximum", "multipleOf")),
            )
            if any(k in schema for k in keys)
        ]
        options = guessed or ["any"]
    else:
        options = [declared] if isinstance(declared, str) else list(declared)
    kind = data.draw(st.sampled_from(options))
    if kind == "any":
        return data.draw(st.sampled_from(ANY_VALUES))
    if kind == "null":
        return None
    if kind == "boolean":
        return data.draw(st.booleans())
    if kind in ("integer", "number"):
        low = max([schema.get("minimum", -5), schema.get("exclusiveMinimum", -6) + 1], default=-5)
        high = min([schema.get("maximum", 5), schema.get("exclusiveMaximum", 6) - 1], default=5)
        if kind == "number" and data.draw(st.booleans()):
            return data.draw(st.sampled_from([low + 0.5, high - 0.5, 0.25]))
        step = schema.get("multipleOf", 1)
        if low > high:
            return low
        return data.draw(st.integers(int(low), int(high))) // step * step
    if kind == "string":
        if "pattern" in schema:
            return data.draw(st.from_regex(schema["pattern"]).filter(lambda s: len(s) < 8))
        low = schema.get("minLength", 0)
        high = max(low, schema.get("maxLength", low + 4))
        return data.draw(st.text(alphabet="abcx", min_size=low, max_size=high))
    if kind == "array":
        prefix = schema.get("prefixItems", [])
        items = [draw_instance(data, s, extras, depth + 1) for s in prefix]
        if schema.get("items", True) is not False:
            for _ in range(data.draw(st.integers(0, 2))):
                items.append(draw_instance(data, schema.get("items", True), extras, depth + 1))
        return items
    # object
    result: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        if name in required or data.draw(st.booleans()):
            result[name] = draw_instance(data, sub, extras, depth + 1)
    for name in required - result.keys():
        result[name] = data.draw(st.sampled_from(ANY_VALUES))
    for regex, sub in schema.get("patternProperties", {}).items():
        if data.draw(st.booleans()):
            name = {"^x": "x1", "^a": "a9", "c$": "zc", "^[a-c]*$": "ab"}.get(regex, "x1")
            result.setdefault(name, draw_instance(data, sub, extras, depth + 1))
    additional = schema.get("additionalProperties", True)
    unconstrained = additional is True or additional == {}
    if additional is not False and (extras or not unconstrained) and data.draw(st.booleans()):
        name = data.draw(st.sampled_from(["a", "b", "c", "zz"]))
        if name not in schema.get("properties", {}):
            result.setdefault(name, draw_instance(data, additional, extras, depth + 1))
    return result


def _valid_document(data: st.DataObject, schema: Any, extras: bool) -> Any:
    validator = Draft202012Validator(schema)
    for _ in range(5):
        candidate = draw_instance(data, schema, extras)
        if validator.is_valid(candidate) and (
            extras or _no_unconstrained_extras(schema, candidate)
        ):
            return candidate
    return reject()  # hypothesis tries another example


def _no_unconstrained_extras(schema: Any, document: Any) -> bool:
    """True when no object carries a name its (sub)schema leaves completely unconstrained.

    Conservative for combinators: a name declared by any branch counts as declared.
    """
    if not isinstance(schema, dict):
        return True
    parts = [schema] + [
        s for k in ("anyOf", "oneOf", "allOf") for s in schema.get(k, []) if isinstance(s, dict)
    ]
    if isinstance(document, dict):
        for name, value in document.items():
            governing = [p["properties"][name] for p in parts if name in p.get("properties", {})]
            governing += [
                sub
                for p in parts
                for regex, sub in p.get("patternProperties", {}).items()
                if re.search(regex, name)
            ]
            if not governing:
                additional = schema.get("additionalProperties", True)
                if additional is True or additional == {}:
                    return False
                governing = [additional]
            if not all(_no_unconstrained_extras(g, value) for g in governing):
                return False
    if isinstance(document, list):
        items = [p.get("items") for p in parts if isinstance(p.get("items"), dict)]
        return all(_no_unconstrained_extras(i, v) for i in items for v in document)
    return True


# -- properties -------------------------------------------------------------------------------


@SETTINGS
@given(schemas())
def test_a_schema_is_fully_compatible_with_itself(schema: dict[str, Any]) -> None:
    assert diff(schema, copy.deepcopy(schema)) == []


@pytest.mark.parametrize("name", schema_registry.names())
def test_every_shipped_schema_is_unchanged_against_itself(name: str) -> None:
    assert compare_sides(load_shipped(name), load_shipped(name)) == []


def _valid_schema(schema: Any) -> bool:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return False
    return True


@SETTINGS
@given(st.data(), schemas())
def test_backward_compatible_means_old_documents_validate_under_new(
    data: st.DataObject, old: dict[str, Any]
) -> None:
    new = data.draw(mutated(old))
    assume(_valid_schema(new))
    changes = diff(old, new)
    if is_compatible(changes, Mode.BACKWARD, Policy.STRICT):
        document = _valid_document(data, old, extras=True)
        assert Draft202012Validator(new).is_valid(document), (old, new, document, changes)


@SETTINGS
@given(st.data(), schemas())
def test_forward_compatible_means_new_documents_validate_under_old(
    data: st.DataObject, old: dict[str, Any]
) -> None:
    new = data.draw(mutated(old))
    assume(_valid_schema(new))
    changes = diff(old, new)
    if is_compatible(changes, Mode.FORWARD, Policy.STRICT):
        document = _valid_document(data, new, extras=True)
        assert Draft202012Validator(old).is_valid(document), (old, new, document, changes)


@SETTINGS
@given(st.data(), schemas())
def test_lenient_holds_for_documents_without_unconstrained_properties(
    data: st.DataObject, old: dict[str, Any]
) -> None:
    new = data.draw(mutated(old))
    assume(_valid_schema(new))
    changes = diff(old, new)
    uncheckable = any(c.backward is Verdict.UNCHECKABLE for c in changes)
    if is_compatible(changes, Mode.BACKWARD, Policy.LENIENT) and not uncheckable:
        document = _valid_document(data, old, extras=False)
        assert Draft202012Validator(new).is_valid(document), (old, new, document, changes)


@SETTINGS
@given(st.data(), schemas())
def test_full_is_both_and_swapping_sides_swaps_directions(
    data: st.DataObject, old: dict[str, Any]
) -> None:
    new = data.draw(mutated(old))
    assume(_valid_schema(new))
    changes, swapped = diff(old, new), diff(new, old)
    for policy in Policy:
        backward = is_compatible(changes, Mode.BACKWARD, policy)
        forward = is_compatible(changes, Mode.FORWARD, policy)
        assert is_compatible(changes, Mode.FULL, policy) == (backward and forward)
        assert is_compatible(swapped, Mode.FORWARD, policy) == backward
        assert is_compatible(swapped, Mode.BACKWARD, policy) == forward
