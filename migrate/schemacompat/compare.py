"""Walking OLD and NEW together and classifying every difference.

Soundness is the rule: a change is COMPATIBLE for a direction only when no document of the
source side can be rejected because of it. Keyword constraints are conjunctive, so comparing
keyword by keyword is sound; where keywords interact (unions, content models, recursion) the
comparison is done on the interacting whole. When the keyword rules cannot prove inclusion but
one side only allows a finite set of values (``enum``/``const``), each value is validated
against the other side instead, which is exact.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable

from adapters.errors import pointer_join
from migrate.schemacompat import objects, scalars
from migrate.schemacompat.keywords import ANNOTATIONS, DYNAMIC, KNOWN
from migrate.schemacompat.loading import Side
from migrate.schemacompat.model import (
    Change,
    Kind,
    Verdict,
    narrows,
    neutral,
    uncheckable,
    widens,
    worst,
)
from migrate.schemacompat.normalize import (
    Branch,
    branches,
    common_types,
    describe_types,
    finite_values,
    is_marker,
    normalize,
    provably_disjoint,
    type_set,
    union_keyword,
)
from migrate.schemacompat.values import same, short

Schema = Any
Node = dict[str, Any]

# Nesting deeper than this (only reachable through recursive $refs) is reported, not followed.
MAX_DEPTH = 150


def compare_sides(old: Side, new: Side) -> list[Change]:
    """Every difference between two loaded schemas, with both directions' verdicts."""
    changes: list[Change] = []
    old_id = old.document.get("$id") if isinstance(old.document, dict) else None
    new_id = new.document.get("$id") if isinstance(new.document, dict) else None
    if old_id != new_id:
        changes.append(neutral(Kind.ID_CHANGED, "/$id", f"$id {old_id!r} -> {new_id!r}"))
    return changes + Comparator(old, new).compare(old.root, new.root, "")


class Comparator:
    def __init__(self, old: Side, new: Side) -> None:
        self.old = old
        self.new = new
        self._assumed: set[tuple[str | None, str | None]] = set()
        self._depth = 0

    def compare(self, old: Schema, new: Schema, ptr: str) -> list[Change]:
        # Identical text is identical meaning, except where a recursion marker stands for a
        # definition that may differ between the two sides: those go through _recursion.
        if same(old, new) and not _has_marker(old):
            return []
        if self._depth >= MAX_DEPTH:
            return [uncheckable(ptr, "nested too deeply to compare")]
        # Two inlined $ref targets: while they are compared, a recursion marker pair for the
        # same URIs below them is assumed compatible (co-induction), which ends the recursion.
        key = (self.old.anchor_of(old), self.new.anchor_of(new))
        anchored = key[0] is not None and key[1] is not None
        if anchored and key in self._assumed:
            return []
        self._depth += 1
        if anchored:
            self._assumed.add(key)
        try:
            return self._compare(old, new, ptr)
        finally:
            self._depth -= 1
            if anchored:
                self._assumed.discard(key)

    # -- whole schemas ------------------------------------------------------------------------

    def _compare(self, old: Schema, new: Schema, ptr: str) -> list[Change]:
        if is_marker(old) or is_marker(new):
            return self._recursion(old, new, ptr)
        o, n = normalize(old), normalize(new)
        if o is False or n is False:
            return _false_schemas(o, n, ptr)
        o = {} if o is True else o
        n = {} if n is True else n
        changes = self._nodes(o, n, ptr)
        return self._refine_with_values(old, new, o, n, changes, ptr)

    def _recursion(self, old: Schema, new: Schema, ptr: str) -> list[Change]:
        """A recursion marker stands for its side's definition of that URI."""
        if is_marker(old):
            old = self.old.definitions[old["$ref"]]
        if is_marker(new):
            new = self.new.definitions[new["$ref"]]
        return self.compare(old, new, ptr)

    def _refine_with_values(
        self, old: Schema, new: Schema, o: Node, n: Node, changes: list[Change], ptr: str
    ) -> list[Change]:
        """A finite side (enum/const) is checked value by value against the other side."""
        values = finite_values(o)
        if values is not None and changes:
            accepted = _all_valid(self.new, new, values)
            if accepted is True:
                changes = [c.with_verdicts(Verdict.COMPATIBLE, c.forward) for c in changes]
            elif accepted is False and worst(changes, "backward") < Verdict.BREAKING:
                changes.append(
                    narrows(Kind.ENUM_VALUE_REJECTED, ptr, "NEW rejects a value OLD allows")
                )
        values = finite_values(n)
        if values is not None and changes:
            accepted = _all_valid(self.old, old, values)
            if accepted is True:
                changes = [c.with_verdicts(c.backward, Verdict.COMPATIBLE) for c in changes]
            elif accepted is False and worst(changes, "forward") < Verdict.BREAKING:
                changes.append(
                    widens(Kind.ENUM_VALUE_REJECTED, ptr, "OLD rejects a value NEW allows")
                )
        return changes

    def _nodes(self, o: Node, n: Node, ptr: str) -> list[Change]:
        ko, kn = union_keyword(o), union_keyword(n)
        if ko is None and kn is None:
            return self._plain(o, n, ptr)
        if ko is not None and ko == kn:
            # The same union on both sides: siblings and branches compare separately.
            keyword: str = ko
            rest = self._nodes(
                {k: v for k, v in o.items() if k != keyword},
                {k: v for k, v in n.items() if k != keyword},
                ptr,
            )
            if same(o[keyword], n[keyword]):
                return rest
            exclusive = keyword == "oneOf"
            old_branches = [Branch(b, f"/{keyword}/{i}", keyword) for i, b in enumerate(o[keyword])]
            new_branches = [Branch(b, f"/{keyword}/{i}", keyword) for i, b in enumerate(n[keyword])]
            return rest + self._union(old_branches, new_branches, ptr, exclusive, exclusive)
        (old_branches, old_exclusive) = branches(o)
        (new_branches, new_exclusive) = branches(n)
        return self._union(old_branches, new_branches, ptr, old_exclusive, new_exclusive)

    # -- unions -------------------------------------------------------------------------------

    def _union(
        self,
        ob: list[Branch],
        nb: list[Branch],
        ptr: str,
        old_exclusive: bool,
        new_exclusive: bool,
    ) -> list[Change]:
        """anyOf/oneOf/multi-type: OLD ⊆ NEW when each OLD branch fits in some NEW branch.

        Every pair is compared; a 1-1 pairing picks which differences to show, and each shown
        verdict is capped by how well its branch is covered by the best alternative.
        """
        results = [[self.compare(a.schema, b.schema, ptr + b.suffix) for b in nb] for a in ob]
        wb = [[worst(r, "backward") for r in row] for row in results]
        wf = [[worst(r, "forward") for r in row] for row in results]
        cover_b = [min(row, default=Verdict.BREAKING) for row in wb]
        cover_f = [
            min((wf[i][j] for i in range(len(ob))), default=Verdict.BREAKING)
            for j in range(len(nb))
        ]
        changes: list[Change] = []
        paired_old: set[int] = set()
        paired_new: set[int] = set()
        for i, j in self._pairing(ob, nb, results, wb, wf):
            paired_old.add(i)
            paired_new.add(j)
            changes += [
                c.with_verdicts(min(c.backward, cover_b[i]), min(c.forward, cover_f[j]))
                for c in results[i][j]
            ]
        for j, branch in enumerate(nb):
            if j not in paired_new:
                changes.append(_branch_added(branch, ptr, cover_f[j]))
        for i, branch in enumerate(ob):
            if i not in paired_old:
                changes.append(_branch_removed(branch, ptr, cover_b[i]))
        # A oneOf rejects documents matching two branches: only disjoint branches make it
        # behave like the anyOf the rules above assume.
        if new_exclusive and not _pairwise_disjoint(nb):
            changes.append(
                uncheckable(
                    ptr + "/oneOf",
                    "NEW oneOf branches may overlap: an OLD document matching two is rejected",
                    forward=Verdict.COMPATIBLE,
                )
            )
        if old_exclusive and not _pairwise_disjoint(ob):
            changes.append(
                uncheckable(
                    ptr + "/oneOf",
                    "OLD oneOf branches may overlap: a NEW document matching two is rejected",
                    backward=Verdict.COMPATIBLE,
                )
            )
        return changes

    @staticmethod
    def _pairing(
        ob: list[Branch],
        nb: list[Branch],
        results: list[list[list[Change]]],
        wb: list[list[Verdict]],
        wf: list[list[Verdict]],
    ) -> list[tuple[int, int]]:
        """Greedy 1-1 pairing: identical first, then most compatible, then same type."""

        def key(pair: tuple[int, int]) -> tuple[int, int, int, int, int]:
            i, j = pair
            same_type = type_set(_as_node(ob[i].schema)) == type_set(_as_node(nb[j].schema))
            return (
                1 if results[i][j] else 0,
                int(wb[i][j]) + int(wf[i][j]),
                0 if same_type else 1,
                len(results[i][j]),
                abs(i - j),
            )

        pairs: list[tuple[int, int]] = []
        used_old: set[int] = set()
        used_new: set[int] = set()
        for i, j in sorted(((i, j) for i in range(len(ob)) for j in range(len(nb))), key=key):
            if i not in used_old and j not in used_new:
                pairs.append((i, j))
                used_old.add(i)
                used_new.add(j)
        return pairs

    # -- plain nodes (no union) ---------------------------------------------------------------

    def _plain(self, o: Node, n: Node, ptr: str) -> list[Change]:
        changes = scalars.compare_annotations(o, n, ptr, ANNOTATIONS)
        changes += scalars.compare_type(o, n, ptr)
        changes += scalars.compare_enum(o, n, ptr)
        common = common_types(type_set(o), type_set(n))
        if common & {"integer", "number"}:
            changes += scalars.compare_numbers(o, n, ptr)
        if "string" in common:
            changes += scalars.compare_strings(o, n, ptr)
        if "array" in common:
            changes += self._array(o, n, ptr)
        if "object" in common:
            changes += objects.compare_object(self.compare, o, n, ptr)
        changes += self._all_of(o, n, ptr)
        changes += self._not(o, n, ptr)
        changes += self._conditional(o, n, ptr)
        changes += _other_keywords(o, n, ptr)
        return changes

    def _array(self, o: Node, n: Node, ptr: str) -> list[Change]:
        changes = scalars.lower_bound(o, n, ptr, "minItems", "MIN_ITEMS")
        changes += scalars.upper_bound(o, n, ptr, "maxItems", "MAX_ITEMS")
        unique_o, unique_n = bool(o.get("uniqueItems")), bool(n.get("uniqueItems"))
        if unique_n and not unique_o:
            changes.append(narrows(Kind.UNIQUE_ITEMS_ADDED, ptr + "/uniqueItems", "uniqueItems"))
        elif unique_o and not unique_n:
            changes.append(
                widens(Kind.UNIQUE_ITEMS_REMOVED, ptr + "/uniqueItems", "uniqueItems dropped")
            )
        # Positions: a tuple slot (prefixItems) or else the `items` schema, on each side.
        prefix_o, prefix_n = o.get("prefixItems", []), n.get("prefixItems", [])
        items_o, items_n = o.get("items", True), n.get("items", True)
        for i in range(max(len(prefix_o), len(prefix_n))):
            slot_o = prefix_o[i] if i < len(prefix_o) else items_o
            slot_n = prefix_n[i] if i < len(prefix_n) else items_n
            changes += self.compare(slot_o, slot_n, f"{ptr}/prefixItems/{i}")
        changes += self.compare(items_o, items_n, ptr + "/items")
        changes += self._contains(o, n, ptr)
        if ("unevaluatedItems" in o or "unevaluatedItems" in n) and not same(o, n):
            changes.append(
                uncheckable(
                    ptr + "/unevaluatedItems",
                    "unevaluatedItems next to in-place applicators: what it covers is not decided",
                )
            )
        return changes

    def _contains(self, o: Node, n: Node, ptr: str) -> list[Change]:
        co, cn = o.get("contains"), n.get("contains")
        where = ptr + "/contains"
        if co is None and cn is None:
            return []  # minContains/maxContains mean nothing without contains
        if co is None:
            return [narrows(Kind.CONTAINS_ADDED, where, "contains added")]
        if cn is None:
            return [widens(Kind.CONTAINS_REMOVED, where, "contains removed")]
        changes = scalars.lower_bound(o, n, ptr, "minContains", "MIN_CONTAINS", floor=1)
        has_max = "maxContains" in o or "maxContains" in n
        if not same(co, cn):
            if has_max:
                # "at most k items match" gets tighter as the matched schema gets looser.
                return [*changes, uncheckable(where, "contains changed together with maxContains")]
            changes += self.compare(co, cn, where)
        changes += scalars.upper_bound(o, n, ptr, "maxContains", "MAX_CONTAINS")
        return changes

    def _all_of(self, o: Node, n: Node, ptr: str) -> list[Change]:
        """Conjuncts ``normalize`` could not merge into their node."""
        lo, ln = list(o.get("allOf", [])), list(n.get("allOf", []))
        if same(lo, ln):
            return []
        kept_n = [j for j, b in enumerate(ln) if not any(same(a, b) for a in lo)]
        kept_o = [i for i, a in enumerate(lo) if not any(same(a, b) for b in ln)]
        changes: list[Change] = []
        for i, j in zip(kept_o, kept_n, strict=False):
            changes += self.compare(lo[i], ln[j], f"{ptr}/allOf/{j}")
        for j in kept_n[len(kept_o) :]:
            changes.append(
                narrows(Kind.PRODUCT_TYPE_EXTENDED, f"{ptr}/allOf/{j}", "allOf gained a subschema")
            )
        for i in kept_o[len(kept_n) :]:
            changes.append(
                widens(Kind.PRODUCT_TYPE_NARROWED, f"{ptr}/allOf/{i}", "allOf lost a subschema")
            )
        return changes

    def _not(self, o: Node, n: Node, ptr: str) -> list[Change]:
        no, nn = o.get("not"), n.get("not")
        where = ptr + "/not"
        if (no is None and nn is None) or same(no, nn):
            return []
        if no is None:
            return [narrows(Kind.NOT_ADDED, where, f"not {short(nn)} added")]
        if nn is None:
            return [widens(Kind.NOT_REMOVED, where, "not removed")]
        return [uncheckable(where, "the negated schema changed")]

    def _conditional(self, o: Node, n: Node, ptr: str) -> list[Change]:
        def active(node: Node) -> bool:
            return "if" in node and ("then" in node or "else" in node)

        if not active(o) and not active(n):
            return []
        if not active(o):
            return [narrows(Kind.CONDITIONAL_ADDED, ptr + "/if", "if/then/else added")]
        if not active(n):
            return [widens(Kind.CONDITIONAL_REMOVED, ptr + "/if", "if/then/else removed")]
        if not same(o["if"], n["if"]):
            return [uncheckable(ptr + "/if", "the if condition changed")]
        # Same condition: each arm only applies to its documents and is compared as such.
        return self.compare(o.get("then", True), n.get("then", True), ptr + "/then") + (
            self.compare(o.get("else", True), n.get("else", True), ptr + "/else")
        )


def _as_node(schema: Schema) -> Node:
    return schema if isinstance(schema, dict) else {}


def _false_schemas(o: Schema, n: Schema, ptr: str) -> list[Change]:
    if o is False and n is False:
        return []
    if o is False:
        return [
            widens(Kind.FALSE_SCHEMA_REMOVED, ptr, "OLD allowed nothing here, NEW allows values")
        ]
    return [narrows(Kind.FALSE_SCHEMA_ADDED, ptr, "NEW allows nothing here")]


def _branch_added(branch: Branch, ptr: str, forward: Verdict) -> Change:
    schema = _as_node(branch.schema)
    if branch.origin == "type":
        text = f"type {describe_types(type_set(schema))} added"
        return Change(Kind.TYPE_EXTENDED, ptr + "/type", text, Verdict.COMPATIBLE, forward)
    text = f"{branch.origin} alternative added: {short(branch.schema)}"
    return Change(Kind.SUM_TYPE_EXTENDED, ptr + branch.suffix, text, Verdict.COMPATIBLE, forward)


def _branch_removed(branch: Branch, ptr: str, backward: Verdict) -> Change:
    schema = _as_node(branch.schema)
    if branch.origin == "type":
        text = f"type {describe_types(type_set(schema))} removed"
        return Change(Kind.TYPE_NARROWED, ptr + "/type", text, backward, Verdict.COMPATIBLE)
    text = f"{branch.origin} alternative removed: {short(branch.schema)}"
    return Change(Kind.SUM_TYPE_NARROWED, ptr + branch.suffix, text, backward, Verdict.COMPATIBLE)


def _pairwise_disjoint(items: list[Branch]) -> bool:
    return all(
        provably_disjoint(items[i].schema, items[j].schema)
        for i in range(len(items))
        for j in range(i + 1, len(items))
    )


def _other_keywords(o: Node, n: Node, ptr: str) -> list[Change]:
    changes: list[Change] = []
    unknown: list[str] = []
    for key in sorted((o.keys() | n.keys()) - KNOWN - {"$ref"}):
        if same(o.get(key), n.get(key)):
            continue
        if key in DYNAMIC:
            changes.append(uncheckable(ptr + pointer_join(key), f"{key} cannot be followed"))
        else:
            unknown.append(key)
    if unknown:
        # Validators ignore keywords they do not know: for validity these are annotations.
        changes.append(
            neutral(Kind.ANNOTATION_CHANGED, ptr, f"unknown keywords changed: {', '.join(unknown)}")
        )
    return changes


def _all_valid(side: Side, schema: Schema, values: list[Any]) -> bool | None:
    """Whether every value is valid under ``schema`` (a part of ``side``); None if undecided.

    Undecided too when the schema uses a format this installation cannot check: a value the
    checker let through could still fail a consumer that checks it.
    """
    if not _formats_checkable(schema):
        return None
    try:
        validator = Draft202012Validator(
            schema, registry=side.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        return all(validator.is_valid(v) for v in values)
    except (Unresolvable, SchemaError, LookupError, TypeError, ValueError):
        return None


def _formats_checkable(schema: Schema) -> bool:
    checkers = Draft202012Validator.FORMAT_CHECKER.checkers
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            declared = node.get("format")
            if isinstance(declared, str) and declared not in checkers:
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _has_marker(schema: Schema) -> bool:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if is_marker(node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
