"""Putting an inlined schema node into the shape the comparison expects.

* ``allOf`` parts are merged into their parent when that changes nothing (composition via
  ``$ref`` + ``allOf`` is how schemas are usually built); parts that would conflict stay.
* ``unevaluatedProperties``/``unevaluatedItems`` on a node without in-place applicators mean
  exactly ``additionalProperties``/``items`` and are renamed so the content model sees them.
* ``anyOf``/``oneOf`` and multi-type nodes are seen as unions of branches (:func:`branches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrate.schemacompat.keywords import (
    ALL_TYPES,
    ANNOTATIONS,
    ARRAY_KEYWORDS,
    IN_PLACE_APPLICATORS,
    NUMBER_KEYWORDS,
    OBJECT_KEYWORDS,
    STRING_KEYWORDS,
    TYPE_GROUP,
)
from migrate.schemacompat.values import canon, json_type, same

Schema = Any
TypeSet = frozenset[str] | None  # None: every type

_OBJECT_CONTENT = frozenset(
    {"properties", "patternProperties", "additionalProperties", "unevaluatedProperties"}
)
_COUPLED = (
    frozenset({"prefixItems", "items", "unevaluatedItems"}),
    frozenset({"contains", "minContains", "maxContains"}),
    frozenset({"if", "then", "else"}),
)
_LOWER = frozenset(
    {"minLength", "minItems", "minProperties", "minContains", "minimum", "exclusiveMinimum"}
)
_UPPER = frozenset(
    {"maxLength", "maxItems", "maxProperties", "maxContains", "maximum", "exclusiveMaximum"}
)
_TYPED = NUMBER_KEYWORDS | STRING_KEYWORDS | ARRAY_KEYWORDS | OBJECT_KEYWORDS


def is_marker(schema: Schema) -> bool:
    """A recursion marker left by the inliner: ``{"$ref": ABSOLUTE-URI}``."""
    return isinstance(schema, dict) and isinstance(schema.get("$ref"), str)


def assertions(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in ANNOTATIONS}


def is_trivial(schema: Schema) -> bool:
    """Accepts everything: ``true``, ``{}``, or only annotations."""
    return schema is True or (isinstance(schema, dict) and not assertions(schema))


def type_set(node: dict[str, Any]) -> TypeSet:
    declared = node.get("type")
    if declared is None:
        return None
    types = {declared} if isinstance(declared, str) else set(declared)
    if "number" in types:
        types.discard("integer")  # integer is a subset of number
    return frozenset(types)


def accepts_type(types: TypeSet, json_kind: str) -> bool:
    return types is None or json_kind in types or (json_kind == "integer" and "number" in types)


def covers(inner: TypeSet, outer: TypeSet) -> bool:
    """Every instance type allowed by ``inner`` is allowed by ``outer``."""
    return all(accepts_type(outer, t) for t in (ALL_TYPES if inner is None else inner))


def common_types(a: TypeSet, b: TypeSet) -> frozenset[str]:
    return frozenset(t for t in ALL_TYPES if accepts_type(a, t) and accepts_type(b, t))


def describe_types(types: TypeSet) -> str:
    return "any type" if types is None else "|".join(sorted(types))


def finite_values(node: dict[str, Any]) -> list[Any] | None:
    """The values a node is limited to by ``enum``/``const``, or None when unlimited."""
    if "const" in node:
        values = [node["const"]]
        if isinstance(node.get("enum"), list):
            allowed = {canon(v) for v in node["enum"]}
            values = [v for v in values if canon(v) in allowed]
        return values
    if isinstance(node.get("enum"), list):
        return list(node["enum"])
    return None


def normalize(schema: Schema) -> Schema:
    """Merge mergeable ``allOf`` parts; rename ``unevaluated*`` where it means ``additional*``."""
    if not isinstance(schema, dict) or is_marker(schema):
        return schema
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return _plain_unevaluated(schema)
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    leftovers: list[Schema] = []
    for raw in parts:
        part = normalize(raw)
        if part is False:
            return False
        if is_trivial(part):
            continue
        combined = None if is_marker(part) else merge(merged, part)
        if combined is None:
            leftovers.append(part)
        else:
            merged = combined
    if leftovers:
        merged["allOf"] = [*merged.get("allOf", []), *leftovers]
    return _plain_unevaluated(merged)


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """``a`` AND ``b`` as one node, or None when the keywords interact in ways a merge would
    change (two content models, two conditionals, conflicting values)."""
    for group in _COUPLED:
        if group & a.keys() and group & b.keys():
            return None
    result = dict(a)
    a_content, b_content = _OBJECT_CONTENT & a.keys(), _OBJECT_CONTENT & b.keys()
    if a_content and b_content:
        if a_content | b_content != {"properties"}:
            return None  # additionalProperties is relative to its own node's properties
        props = dict(a["properties"])
        for name, sub in b["properties"].items():
            props[name] = (
                sub
                if name not in props or same(props[name], sub)
                else {"allOf": [props[name], sub]}
            )
        result["properties"] = props
    for key, value in b.items():
        if key in ANNOTATIONS:
            result.setdefault(key, value)
            continue
        if key == "properties" and a_content and b_content:
            continue
        if key not in result or same(result[key], value):
            result[key] = value
        elif key == "required":
            result[key] = list(dict.fromkeys([*result[key], *value]))
        elif key == "type":
            both = common_types(type_set(result), type_set(b))
            if not both:
                return None
            result[key] = sorted(both - {"integer"} if "number" in both else both)
        elif key in _LOWER:
            result[key] = max(result[key], value)
        elif key in _UPPER:
            result[key] = min(result[key], value)
        elif key == "allOf":
            result[key] = [*result[key], *value]
        else:
            return None
    return result


def _plain_unevaluated(node: dict[str, Any]) -> dict[str, Any]:
    if IN_PLACE_APPLICATORS & node.keys():
        return node
    node = dict(node)
    if "unevaluatedProperties" in node:
        value = node.pop("unevaluatedProperties")
        node.setdefault("additionalProperties", value)
    if "unevaluatedItems" in node and "contains" not in node:
        value = node.pop("unevaluatedItems")
        node.setdefault("items", value)
    return node


def prune_for_type(node: dict[str, Any], json_kind: str) -> dict[str, Any]:
    """Drop keywords that do not apply to instances of ``json_kind``."""
    irrelevant = _TYPED - TYPE_GROUP[json_kind]
    return {k: v for k, v in node.items() if k not in irrelevant}


@dataclass(frozen=True, slots=True)
class Branch:
    """One alternative of a union, with the pointer suffix where it lives in its schema."""

    schema: Schema
    suffix: str
    origin: str  # "anyOf", "oneOf", "type" (split of a multi-type node) or "self"


def union_keyword(node: dict[str, Any]) -> str | None:
    if isinstance(node.get("anyOf"), list):
        return "anyOf"
    if isinstance(node.get("oneOf"), list):
        return "oneOf"
    return None


def branches(node: dict[str, Any]) -> tuple[list[Branch], bool]:
    """The node as a union; the flag says whether exactly one branch must match (oneOf).

    Sibling keywords are distributed into each branch: ``S ∧ anyOf[A, B] = anyOf[S∧A, S∧B]``
    (the same holds for oneOf).
    """
    keyword = union_keyword(node)
    if keyword is not None:
        base = {k: v for k, v in node.items() if k != keyword}
        return (
            [
                Branch(conjoin(base, sub), f"/{keyword}/{i}", keyword)
                for i, sub in enumerate(node[keyword])
            ],
            keyword == "oneOf",
        )
    types = type_set(node)
    if types is not None and len(types) > 1:
        return (
            [Branch(prune_for_type({**node, "type": t}, t), "", "type") for t in sorted(types)],
            False,
        )
    return [Branch(node, "", "self")], False


def conjoin(base: dict[str, Any], branch: Schema) -> Schema:
    if branch is False:
        return False
    if not assertions(base):
        return branch if branch is not True else base
    if branch is True:
        return base
    if not is_marker(branch):
        merged = merge(base, normalize(branch))
        if merged is not None:
            return merged
    return {**base, "allOf": [*base.get("allOf", []), branch]}


def provably_disjoint(a: Schema, b: Schema) -> bool:
    """No instance can satisfy both (used to trust that a oneOf behaves like an anyOf)."""
    a, b = normalize(a), normalize(b)
    if a is False or b is False:
        return True
    if not isinstance(a, dict) or not isinstance(b, dict) or is_marker(a) or is_marker(b):
        return False
    ta, tb = type_set(a), type_set(b)
    if not common_types(ta, tb):
        return True
    va, vb = finite_values(a), finite_values(b)
    if va is not None and not any(accepts_type(tb, json_type(v)) for v in va):
        return True
    if vb is not None and not any(accepts_type(ta, json_type(v)) for v in vb):
        return True
    if va is not None and vb is not None and not {canon(v) for v in va} & {canon(v) for v in vb}:
        return True
    # A discriminator: a property both require, with values that cannot coincide.
    required = set(a.get("required", [])) & set(b.get("required", []))
    for name in sorted(required):
        pa = a.get("properties", {}).get(name)
        pb = b.get("properties", {}).get(name)
        if pa is not None and pb is not None and provably_disjoint(pa, pb):
            return True
    return False
