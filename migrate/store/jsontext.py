"""The store's JSON text: one encoder for every writer (SQLAlchemy's and the fast paths')."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_json(value: Any) -> str:
    """JSON columns: orjson for speed, the stdlib for what orjson refuses (ints past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, default=dict)
