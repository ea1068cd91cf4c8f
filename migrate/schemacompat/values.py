"""JSON values as JSON Schema compares them: 1 == 1.0, but true != 1."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

Canon = tuple[Any, ...]


def canon(value: Any) -> Canon:
    """A hashable key equal for two values exactly when JSON Schema's equality says so."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return ("number", repr(value))
        return ("number", Fraction(value))
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(canon(v) for v in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((str(k), canon(v)) for k, v in value.items())))
    return ("other", repr(value))


def same(a: Any, b: Any) -> bool:
    return canon(a) == canon(b)


def json_type(value: Any) -> str:
    """The JSON Schema type of a value; an integral float counts as an integer."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def short(value: Any, limit: int = 60) -> str:
    """A compact JSON rendering for descriptions."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
