"""Reading schema documents and inlining their ``$ref``s into one self-contained tree.

The comparison walks OLD and NEW side by side, so every ``$ref`` (local, to a sibling file, or to
a shipped schema) is replaced by what it points at. Draft-07 (and 04/06, 2019-09) spellings are
translated to draft 2020-12 on the way (``items: [...]`` → ``prefixItems``, ``dependencies`` →
``dependentRequired``/``dependentSchemas``), so two drafts compare with each other.

A recursive ``$ref`` cannot be inlined forever: its second visit stays as ``{"$ref": ABSOLUTE}``
(a "recursion marker") and the inlined target is kept in :attr:`Side.definitions`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012, UnknownDialect

from adapters import schema_registry
from adapters.errors import pointer_join
from migrate.schemacompat.keywords import ANNOTATIONS, SUBSCHEMA, SUBSCHEMA_LIST, SUBSCHEMA_MAP

Schema = Any  # a JSON Schema: a dict or a boolean

# Expansion guard: a schema whose $refs fan out this much is not something CI should chew on.
MAX_INLINED_NODES = 200_000
# Sibling files are loaded eagerly so they take precedence over the shipped schemas.
MAX_SIBLING_FILES = 500

_LEGACY_DRAFTS = ("draft-04", "draft-06", "draft-07")
# Keywords a legacy (draft-04/06/07) validator does not know, hence ignores.
_NOT_IN_LEGACY = frozenset(
    {
        "prefixItems",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "minContains",
        "maxContains",
    }
)
# Keywords draft 2020-12 dropped (its validators ignore them).
_NOT_IN_2020 = frozenset({"additionalItems", "dependencies"})


class SchemaLoadError(Exception):
    """A schema that cannot be compared: unreadable, not JSON, not a schema, a dangling $ref."""


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the inlined tree, its recursion targets, the raw documents."""

    label: str
    document: Schema
    root: Schema
    definitions: Mapping[str, Schema]
    registry: Registry[Any] = field(repr=False)
    # id() of every inlined $ref target (and the root) -> its absolute URI: comparing two
    # such trees is what recursion markers can later assume (see compare.Comparator).
    # (The tree itself is kept with its URI so its id() cannot be reused by another object.)
    anchors: Mapping[int, tuple[str, Schema]] = field(default_factory=dict, repr=False)

    def anchor_of(self, tree: Schema) -> str | None:
        entry = self.anchors.get(id(tree))
        return entry[0] if entry is not None and entry[1] is tree else None


def read_json(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaLoadError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(
            f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def check_schema(document: Any, label: str) -> None:
    """Reject anything that is not a JSON Schema under its own (or the 2020-12) meta-schema."""
    if isinstance(document, bool):
        return
    if not isinstance(document, dict):
        raise SchemaLoadError(f"{label}: not a JSON Schema (a {type(document).__name__})")
    cls = validator_for(document, default=Draft202012Validator)
    try:
        cls.check_schema(document)
    except SchemaError as exc:
        where = pointer_join(*exc.absolute_path) or "/"
        raise SchemaLoadError(
            f"{label}: not a valid JSON Schema at {where}: {exc.message}"
        ) from exc


def _resource(document: Any) -> Resource[Any]:
    try:
        return Resource.from_contents(document, default_specification=DRAFT202012)
    except UnknownDialect:
        return DRAFT202012.create_resource(document)


def _uri_of(document: Any, fallback: str) -> str:
    if isinstance(document, dict) and isinstance(document.get("$id"), str):
        return urldefrag(join_uri(fallback, document["$id"]))[0] or fallback
    return fallback


def sibling_resources(directory: Path) -> list[tuple[str, Resource[Any]]]:
    """Every JSON document in ``directory``, under its file URI and under its ``$id``.

    Files that are not JSON are skipped: they are not the subject of the comparison, and a
    ``$ref`` to one still fails clearly as unresolvable.
    """
    found: list[tuple[str, Resource[Any]]] = []
    for path in sorted(directory.glob("*.json"))[:MAX_SIBLING_FILES]:
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(document, dict | bool):
            continue
        file_uri = path.resolve().as_uri()
        resource = _resource(document)
        found.append((file_uri, resource))
        own = _uri_of(document, file_uri)
        if own != file_uri:
            found.append((own, resource))
    return found


def layered_registry(extra: Iterable[tuple[str, Resource[Any]]]) -> Registry[Any]:
    """The shipped schemas, overridden by ``extra`` (later wins)."""
    return schema_registry.registry().with_resources(extra)


def load_file(path: Path) -> Side:
    """A schema file, with ``$ref``s resolved against its directory and the shipped schemas."""
    document = read_json(path)
    check_schema(document, str(path))
    file_uri = path.resolve().as_uri()
    uri = _uri_of(document, file_uri)
    registry = layered_registry(
        [
            *sibling_resources(path.parent),
            (file_uri, _resource(document)),
            (uri, _resource(document)),
        ]
    )
    return build_side(str(path), document, uri, registry)


def load_shipped(name: str) -> Side:
    document = schema_registry.load(name)
    label = name + schema_registry.SUFFIX
    check_schema(document, label)
    uri = _uri_of(document, f"urn:webhooks-migrate:schema:{name}")
    return build_side(label, document, uri, schema_registry.registry())


def build_side(label: str, document: Schema, uri: str, registry: Registry[Any]) -> Side:
    """Inline ``document`` (known as ``uri``); its $refs resolve in ``registry`` plus itself."""
    registry = registry.with_resource(uri, _resource(document))
    inliner = _Inliner(label, registry)
    root = inliner.inline(document, uri, _dialect(document, "2020"), (uri,), "")
    if uri in inliner.recursive:
        inliner.definitions[uri] = root
    if isinstance(root, dict):
        inliner.anchors[id(root)] = (uri, root)
    return Side(label, document, root, dict(inliner.definitions), registry, dict(inliner.anchors))


def join_uri(base: str, reference: str) -> str:
    """RFC 3986 resolution; a bare fragment also works on non-hierarchical bases (``urn:``)."""
    if reference.startswith("#"):
        return urldefrag(base)[0] + reference
    return urljoin(base, reference)


def _dialect(document: Any, default: str) -> str:
    if not isinstance(document, dict) or not isinstance(document.get("$schema"), str):
        return default
    uri = document["$schema"]
    if any(d in uri for d in _LEGACY_DRAFTS):
        return "legacy"
    if "2019-09" in uri:
        return "2019"
    return "2020"


class _Inliner:
    def __init__(self, label: str, registry: Registry[Any]) -> None:
        self.label = label
        self.registry = registry
        self.definitions: dict[str, Schema] = {}
        self.anchors: dict[int, tuple[str, Schema]] = {}
        self.recursive: set[str] = set()
        self.nodes = 0

    def inline(
        self, schema: Schema, base: str, dialect: str, stack: tuple[str, ...], pointer: str
    ) -> Schema:
        if not isinstance(schema, dict):
            return schema
        self.nodes += 1
        if self.nodes > MAX_INLINED_NODES:
            raise SchemaLoadError(f"{self.label}: too large once its $refs are expanded")
        own_id = schema.get("$id")
        if isinstance(own_id, str) and not own_id.startswith("#"):
            base = join_uri(base, own_id)
        dialect = _dialect(schema, dialect)
        out = self._keywords(schema, base, dialect, stack, pointer)
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return out
        target = self._follow(ref, base, stack, pointer)
        return _with_siblings(target, out, dialect)

    def _keywords(
        self, schema: dict[str, Any], base: str, dialect: str, stack: tuple[str, ...], ptr: str
    ) -> dict[str, Any]:
        def sub(value: Any, *parts: str | int) -> Schema:
            return self.inline(value, base, dialect, stack, ptr + pointer_join(*parts))

        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in {"$ref", "$id", "$schema", "$defs", "definitions", "$anchor"}:
                continue
            if (dialect == "legacy" and key in _NOT_IN_LEGACY) or (
                dialect == "2020" and key in _NOT_IN_2020
            ):
                continue
            if key == "items" and isinstance(value, list):
                out["prefixItems"] = [sub(v, key, i) for i, v in enumerate(value)]
                if "additionalItems" in schema:
                    out["items"] = sub(schema["additionalItems"], "additionalItems")
            elif key == "additionalItems":
                continue  # meaningful only next to an array-form `items`, handled there
            elif key == "dependencies" and isinstance(value, dict):
                for name, dep in value.items():
                    if isinstance(dep, list):
                        out.setdefault("dependentRequired", {})[name] = dep
                    else:
                        out.setdefault("dependentSchemas", {})[name] = sub(dep, key, name)
            elif key in SUBSCHEMA_MAP and isinstance(value, dict):
                out[key] = {name: sub(v, key, name) for name, v in value.items()}
            elif key in SUBSCHEMA_LIST and isinstance(value, list):
                out[key] = [sub(v, key, i) for i, v in enumerate(value)]
            elif key in SUBSCHEMA:
                out[key] = sub(value, key)
            else:
                out[key] = value
        if dialect == "legacy":
            _draft4_exclusive_bounds(out)
        return out

    def _follow(self, ref: str, base: str, stack: tuple[str, ...], pointer: str) -> Schema:
        target_uri = join_uri(base, ref)
        document_uri, fragment = urldefrag(target_uri)
        key = document_uri if not fragment else target_uri
        if key in stack:
            self.recursive.add(key)
            return {"$ref": key}
        try:
            resolved = self.registry.resolver(base_uri=base).lookup(ref)
        except (Unresolvable, NoSuchResource) as exc:
            where = pointer or "/"
            raise SchemaLoadError(f"{self.label}: cannot resolve $ref {ref!r} at {where}") from exc
        try:
            document = self.registry.contents(document_uri)
        except (NoSuchResource, LookupError):
            document = resolved.contents
        target_base = urljoin(document_uri, "")
        target = self.inline(
            resolved.contents, target_base, _dialect(document, "2020"), (*stack, key), pointer
        )
        if key in self.recursive:
            self.definitions[key] = target
        if isinstance(target, dict):
            self.anchors[id(target)] = (key, target)
        return target


def _with_siblings(target: Schema, siblings: dict[str, Any], dialect: str) -> Schema:
    """``$ref`` plus sibling keywords: draft 2020-12 ANDs them; draft-07 ignores the siblings."""
    if dialect == "legacy" or target is False:
        return target
    assertions = {k: v for k, v in siblings.items() if k not in ANNOTATIONS}
    annotations = {k: v for k, v in siblings.items() if k in ANNOTATIONS}
    if target is True:
        return siblings
    if not assertions:
        return {**target, **annotations}
    return {"allOf": [target, assertions], **annotations}


def _draft4_exclusive_bounds(out: dict[str, Any]) -> None:
    """Draft-04's boolean ``exclusiveMaximum``/``exclusiveMinimum`` → the numeric form."""
    for exclusive, bound in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        flag = out.get(exclusive)
        if not isinstance(flag, bool):
            continue
        del out[exclusive]
        if flag and bound in out:
            out[exclusive] = out.pop(bound)
