"""The documentation describes what the code ships: fields, reason codes and commands."""

from __future__ import annotations

import re
from pathlib import Path

from adapters import schema_registry
from adapters.errors import Reason
from migrate.cli import COMMANDS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _table_first_column(text: str) -> list[str]:
    return re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.MULTILINE)


def test_unified_event_doc_names_exactly_the_schema_fields() -> None:
    text = (DOCS / "unified-event.md").read_text()
    field_table = text.split("\n## ")[0]  # the table before the first section heading
    schema = schema_registry.load(schema_registry.UNIFIED)
    assert _table_first_column(field_table) == list(schema["properties"])


def test_every_reason_code_is_documented() -> None:
    text = (DOCS / "unified-event.md").read_text()
    for reason in Reason:
        if reason is Reason.SIGNATURE:
            continue  # the verifier's own codes are documented in verify.md
        assert f"`{reason.value}`" in text, reason


def test_every_command_has_documentation() -> None:
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    for name in COMMANDS:
        assert re.search(rf"`{name}\b", text), name
