"""Loading schema files: $ref resolution across files, recursion, drafts, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters import schema_registry
from migrate.schemacompat import (
    Kind,
    Mode,
    Policy,
    SchemaLoadError,
    compare_sides,
    diff_files,
    is_compatible,
    load_file,
)
from migrate.schemacompat.normalize import is_marker


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), "utf-8")
    return path


def person(name_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "$id": "https://example.test/person.json",
        "type": "object",
        "properties": {"name": name_schema, "employer": {"$ref": "company.json"}},
    }


COMPANY = {
    "$id": "https://example.test/company.json",
    "type": "object",
    "properties": {"staff": {"type": "array", "items": {"$ref": "person.json"}}},
}


def test_mutually_recursive_files_load_and_compare(tmp_path: Path) -> None:
    old = write(tmp_path / "old" / "person.json", person({"type": "string"}))
    write(tmp_path / "old" / "company.json", COMPANY)
    new = write(tmp_path / "new" / "person.json", person({"type": "string", "minLength": 1}))
    write(tmp_path / "new" / "company.json", COMPANY)

    side = load_file(old)
    # The cycle person -> company -> person is cut by a marker whose target is kept.
    staff_items = side.root["properties"]["employer"]["properties"]["staff"]["items"]
    assert is_marker(staff_items)
    assert staff_items["$ref"] in side.definitions

    assert compare_sides(side, load_file(old)) == []
    changes = diff_files(old, new)
    assert [(c.kind, c.pointer) for c in changes] == [
        (Kind.MIN_LENGTH_ADDED, "/properties/name/minLength")
    ]
    assert not is_compatible(changes, Mode.BACKWARD, Policy.STRICT)
    assert is_compatible(changes, Mode.FORWARD, Policy.STRICT)


def test_a_change_deep_inside_a_cycle_is_found(tmp_path: Path) -> None:
    company = json.loads(json.dumps(COMPANY))
    company["properties"]["staff"]["maxItems"] = 10
    old = write(tmp_path / "old" / "person.json", person({"type": "string"}))
    write(tmp_path / "old" / "company.json", COMPANY)
    new = write(tmp_path / "new" / "person.json", person({"type": "string"}))
    write(tmp_path / "new" / "company.json", company)
    changes = diff_files(old, new)
    assert [(c.kind, c.pointer) for c in changes] == [
        (Kind.MAX_ITEMS_ADDED, "/properties/employer/properties/staff/maxItems")
    ]


def test_id_change_is_reported_and_harmless(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"$id": "https://example.test/a.json", "type": "string"})
    new = write(tmp_path / "new.json", {"$id": "https://example.test/b.json", "type": "string"})
    changes = diff_files(old, new)
    assert [c.kind for c in changes] == [Kind.ID_CHANGED]
    assert is_compatible(changes, Mode.FULL, Policy.STRICT)


def test_draft_04_boolean_exclusive_bounds_are_translated(tmp_path: Path) -> None:
    old = write(
        tmp_path / "old.json",
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "number",
            "maximum": 5,
            "exclusiveMaximum": True,
        },
    )
    new = write(tmp_path / "new.json", {"type": "number", "exclusiveMaximum": 5})
    assert diff_files(old, new) == []


def test_a_draft_07_file_is_checked_against_the_draft_07_meta_schema(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.json",
        {"$schema": "http://json-schema.org/draft-07/schema#", "exclusiveMinimum": True},
    )
    with pytest.raises(SchemaLoadError, match="not a valid JSON Schema at /exclusiveMinimum"):
        load_file(bad)


def test_dynamic_references_are_uncheckable(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"$dynamicRef": "#meta", "type": "object"})
    new = write(tmp_path / "new.json", {"$dynamicRef": "#other", "type": "object"})
    changes = diff_files(old, new)
    assert [c.kind for c in changes] == [Kind.UNCHECKABLE]
    assert not is_compatible(changes, Mode.BACKWARD, Policy.STRICT)
    assert is_compatible(changes, Mode.BACKWARD, Policy.LENIENT)


def test_a_sibling_file_overrides_a_shipped_schema_with_the_same_id(tmp_path: Path) -> None:
    notification = schema_registry.load(schema_registry.V2_NOTIFICATION)
    loosened = json.loads(json.dumps(notification))
    loosened["required"] = ["uuid"]
    write(tmp_path / "v2-notification.schema.json", loosened)
    payload = write(
        tmp_path / "v2-payload.schema.json", schema_registry.load(schema_registry.V2_PAYLOAD)
    )
    side = load_file(payload)
    assert side.root["items"]["required"] == ["uuid"]
