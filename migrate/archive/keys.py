"""A source row's key as the ledger keeps it (``ingest_files.resume_key``): JSON text that says
the value's type, so that a resumed import compares it with the key column as the database does."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

_DECODE: dict[str, Any] = {
    "int": int,
    "str": str,
    "float": float,
    "decimal": decimal.Decimal,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "bytes": bytes.fromhex,
}


def encode_key(value: Any) -> str:
    """``value`` (a key column's value) as ledger text; ``ValueError`` for a type a key cannot
    have."""
    if value.__class__ is int:  # the usual key, once a row: json.dumps's text, without it
        return f'["int", "{value}"]'
    if isinstance(value, bool):
        raise ValueError("a boolean column cannot order an import")
    if isinstance(value, int):
        kind, text = "int", str(value)
    elif isinstance(value, str):
        kind, text = "str", value
    elif isinstance(value, float):
        kind, text = "float", repr(value)
    elif isinstance(value, decimal.Decimal):
        kind, text = "decimal", str(value)
    elif isinstance(value, dt.datetime):
        kind, text = "datetime", value.isoformat()
    elif isinstance(value, dt.date):
        kind, text = "date", value.isoformat()
    elif isinstance(value, dt.time):
        kind, text = "time", value.isoformat()
    elif isinstance(value, uuid.UUID):
        kind, text = "uuid", str(value)
    elif isinstance(value, bytes | bytearray | memoryview):
        kind, text = "bytes", bytes(value).hex()
    else:
        raise ValueError(f"a {type(value).__name__} column cannot order an import")
    return json.dumps([kind, text])


def decode_key(text: str) -> Any:
    """The key value :func:`encode_key` wrote."""
    kind, value = json.loads(text)
    return _DECODE[kind](value)


def shown_key(value: Any) -> str:
    """A key value as a reject names its row."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
