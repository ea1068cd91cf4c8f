"""Generate straight-line Python source from a JSON Schema: the fastest yes/no predicate.

:mod:`adapters.fastcheck` composes closures, one call per keyword per value. For the shapes on the
ingest hot path (a bulk-export line is an object of a dozen scalars) that call overhead is most
of the cost, so this module writes one Python function per object or array schema, with scalar
checks inlined as expressions, and compiles it. It covers fewer keywords than the closure
compiler; anything else raises :class:`Unsupported` and the caller uses the closures instead.
Semantics are the closure compiler's (and so ``jsonschema``'s): a test holds all three together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from referencing import Registry
from referencing._core import Resolver  # the public API hands these out but does not export it
from referencing.jsonschema import DRAFT202012

from adapters.fastcheck import ANNOTATIONS, Unsupported

_SCALAR_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)
_CONTAINER_KEYWORDS = frozenset(
    {
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "items",
        "minItems",
        "maxItems",
        "anyOf",
        "allOf",
        "$ref",
    }
)

_TYPE_EXPR = {
    "null": "{v} is None",
    "boolean": "{v}.__class__ is bool",
    "integer": "({v}.__class__ is int or ({v}.__class__ is float and {v}.is_integer()))",
    "number": "({v}.__class__ is int or {v}.__class__ is float)",
    "string": "{v}.__class__ is str",
    "array": "{v}.__class__ is list",
    "object": "{v}.__class__ is dict",
}
_NUMBER = "({v}.__class__ is int or {v}.__class__ is float)"


def _supported_keys(schema: Mapping[str, Any]) -> set[str]:
    keys = set(schema) - ANNOTATIONS
    unknown = keys - _SCALAR_KEYWORDS - _CONTAINER_KEYWORDS
    if unknown:
        raise Unsupported(f"keywords {sorted(unknown)} are not generated")
    return keys


class _Generator:
    def __init__(self) -> None:
        self.functions: list[str] = []
        self.constants: dict[str, Any] = {}
        self.by_target: dict[int, str] = {}

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def expression(self, schema: Any, v: str, resolver: Resolver[Any]) -> str:
        """A boolean expression on variable ``v`` that is true when ``v`` is valid."""
        if schema is True:
            return "True"
        if schema is False:
            return "False"
        if not isinstance(schema, Mapping):
            raise Unsupported("schema must be an object or a boolean")
        keys = _supported_keys(schema)
        if keys & _CONTAINER_KEYWORDS or "$id" in schema:
            return f"{self.function(schema, resolver)}({v})"
        return self.scalar(schema, v)

    def scalar(self, schema: Mapping[str, Any], v: str) -> str:
        parts: list[str] = []
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
            parts.append("(" + " or ".join(_TYPE_EXPR[n].format(v=v) for n in names) + ")")
        if "enum" in schema:
            options = list(schema["enum"])
            if not all(isinstance(o, str) for o in options):
                raise Unsupported("only string enums are generated")
            parts.append(f"({v}.__class__ is str and {v} in {self.constant(frozenset(options))})")
        if "minLength" in schema:
            parts.append(f"({v}.__class__ is not str or len({v}) >= {int(schema['minLength'])})")
        if "maxLength" in schema:
            parts.append(f"({v}.__class__ is not str or len({v}) <= {int(schema['maxLength'])})")
        if "pattern" in schema:
            regex = self.constant(re.compile(schema["pattern"]))
            parts.append(f"({v}.__class__ is not str or {regex}.search({v}) is not None)")
        # Written as jsonschema decides them ("fails when x < limit"): the complement would
        # differ for NaN, which every comparison refuses.
        for keyword, failing in (
            ("minimum", "<"),
            ("maximum", ">"),
            ("exclusiveMinimum", "<="),
            ("exclusiveMaximum", ">="),
        ):
            if keyword in schema:
                limit = self.constant(schema[keyword])
                parts.append(f"(not {_NUMBER.format(v=v)} or not {v} {failing} {limit})")
        return " and ".join(parts) or "True"

    def function(self, schema: Mapping[str, Any], resolver: Resolver[Any]) -> str:
        _supported_keys(schema)  # refuse, never ignore, what is not generated
        if "$id" in schema:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
        key = id(schema)
        if key in self.by_target:
            return self.by_target[key]
        name = f"_f{len(self.by_target)}"
        self.by_target[key] = name
        body: list[str] = []
        scalar = {k: schema[k] for k in schema if k in _SCALAR_KEYWORDS}
        if scalar:
            body.append(f"if not ({self.scalar(scalar, 'x')}): return False")
        if "$ref" in schema:
            target = resolver.lookup(schema["$ref"])
            if not isinstance(target.contents, Mapping | bool):
                raise Unsupported("a $ref to something that is not a schema")
            body.append(
                f"if not ({self.expression(target.contents, 'x', target.resolver)}): return False"
            )
        for keyword in ("anyOf", "allOf"):
            if keyword in schema:
                joiner = " or " if keyword == "anyOf" else " and "
                branches = [self.expression(sub, "x", resolver) for sub in schema[keyword]]
                body.append(f"if not ({joiner.join(branches) or 'True'}): return False")
        object_lines = self.object_lines(schema, resolver)
        if object_lines:
            body.append("if x.__class__ is dict:")
            body.extend("    " + line for line in object_lines)
        array_lines = self.array_lines(schema, resolver)
        if array_lines:
            body.append("if x.__class__ is list:")
            body.extend("    " + line for line in array_lines)
        source = [f"def {name}(x):"] + ["    " + line for line in body] + ["    return True"]
        self.functions.append("\n".join(source))
        return name

    def object_lines(self, schema: Mapping[str, Any], resolver: Resolver[Any]) -> list[str]:
        lines: list[str] = []
        if "minProperties" in schema:
            lines.append(f"if len(x) < {int(schema['minProperties'])}: return False")
        if "maxProperties" in schema:
            lines.append(f"if len(x) > {int(schema['maxProperties'])}: return False")
        for required in schema.get("required", ()):
            lines.append(f"if {required!r} not in x: return False")
        properties = schema.get("properties", {})
        for prop, sub in properties.items():
            check = self.expression(sub, "v", resolver)
            if check != "True":
                lines.append(f"v = x.get({prop!r}, _MISSING)")
                lines.append(f"if v is not _MISSING and not ({check}): return False")
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            known = self.constant(frozenset(properties))
            check = self.expression(extra, "v", resolver)
            lines.append("for k, v in x.items():")
            lines.append(f"    if k not in {known} and not ({check}): return False")
        return lines

    def array_lines(self, schema: Mapping[str, Any], resolver: Resolver[Any]) -> list[str]:
        lines: list[str] = []
        if "minItems" in schema:
            lines.append(f"if len(x) < {int(schema['minItems'])}: return False")
        if "maxItems" in schema:
            lines.append(f"if len(x) > {int(schema['maxItems'])}: return False")
        if "items" in schema:
            check = self.expression(schema["items"], "v", resolver)
            if check != "True":
                lines.append("for v in x:")
                lines.append(f"    if not ({check}): return False")
        return lines


def generate_check(schema: Mapping[str, Any], registry: Registry[Any]) -> Callable[[Any], bool]:
    """A generated predicate equivalent to ``jsonschema``'s ``is_valid`` for ``schema``.

    Raises :class:`Unsupported` for a schema outside the generated subset.
    """
    resolver = registry.resolver_with_root(DRAFT202012.create_resource(schema))
    generator = _Generator()
    entry = generator.function(schema, resolver)
    namespace: dict[str, Any] = {"_MISSING": object(), **generator.constants}
    exec(compile("\n\n".join(generator.functions), "<generated schema check>", "exec"), namespace)  # noqa: S102 - source built from our own schemas
    check: Callable[[Any], bool] = namespace[entry]
    return check
