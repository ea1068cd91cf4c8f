"""Which JSON Schema keywords assert, which only annotate, and which types they apply to."""

from __future__ import annotations

# Keywords that never change which documents are valid. `format` is deliberately NOT here:
# many consumers assert it, so a changed format is treated as a changed constraint.
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)

NUMBER_KEYWORDS = frozenset(
    {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"}
)
STRING_KEYWORDS = frozenset({"maxLength", "minLength", "pattern", "format"})
ARRAY_KEYWORDS = frozenset(
    {
        "items",
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "maxItems",
        "minItems",
        "uniqueItems",
        "unevaluatedItems",
    }
)
OBJECT_KEYWORDS = frozenset(
    {
        "properties",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
        "required",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
    }
)
GENERIC_KEYWORDS = frozenset(
    {"type", "enum", "const", "allOf", "anyOf", "oneOf", "not", "if", "then", "else"}
)
# Keywords this package understands; any other assertion-looking keyword is compared only
# for equality (validators ignore unknown keywords, so a change there is an annotation).
KNOWN = (
    ANNOTATIONS
    | NUMBER_KEYWORDS
    | STRING_KEYWORDS
    | ARRAY_KEYWORDS
    | OBJECT_KEYWORDS
    | GENERIC_KEYWORDS
)
# Dynamic references cannot be inlined: a change under them is uncheckable.
DYNAMIC = frozenset({"$dynamicRef", "$recursiveRef", "$recursiveAnchor"})

# The type groups whose keywords apply to an instance of a JSON type.
TYPE_GROUP: dict[str, frozenset[str]] = {
    "null": frozenset(),
    "boolean": frozenset(),
    "integer": NUMBER_KEYWORDS,
    "number": NUMBER_KEYWORDS,
    "string": STRING_KEYWORDS,
    "array": ARRAY_KEYWORDS,
    "object": OBJECT_KEYWORDS,
}
ALL_TYPES = frozenset(TYPE_GROUP)

# Keywords whose value is one subschema, a list of subschemas, or a map of subschemas.
SUBSCHEMA = frozenset(
    {
        "additionalProperties",
        "propertyNames",
        "items",
        "contains",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contentSchema",
    }
)
SUBSCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SUBSCHEMA_MAP = frozenset({"properties", "patternProperties", "dependentSchemas"})
# Keywords that evaluate properties/items in place (what `unevaluated*` looks through).
IN_PLACE_APPLICATORS = frozenset(
    {"allOf", "anyOf", "oneOf", "if", "then", "else", "dependentSchemas", "$ref"}
)
