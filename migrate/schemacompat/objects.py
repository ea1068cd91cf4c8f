"""Object rules: the content model decides what adding or removing a property means.

For a property name, the schema that governs it in a node is, in order: its ``properties``
entry (together with every ``patternProperties`` regex that matches it), else the matching
``patternProperties``, else ``additionalProperties`` (absent = anything). Relative to one name
an object is therefore **open** (anything goes), **closed** (``false``), or **partially open**
(some schema). Adding or removing a property compares the schema the name had on one side with
the schema it has on the other, which is exactly Confluent's open/closed/partially-open rules.

Lenient policy: a name left completely unconstrained (open content) is assumed absent from
real documents, so a check whose source side is open for that name counts as STRICT_ONLY.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adapters.errors import pointer_join
from migrate.schemacompat.model import (
    Change,
    Kind,
    Verdict,
    changes_both,
    narrows,
    uncheckable,
    widens,
    worst,
)
from migrate.schemacompat.normalize import is_trivial
from migrate.schemacompat.scalars import lower_bound, upper_bound
from migrate.schemacompat.values import same

Node = dict[str, Any]
Schema = Any
Compare = Callable[[Schema, Schema, str], list[Change]]

OPEN, CLOSED, PARTIAL, DECLARED = "open", "closed", "partially open", "declared"


class UncheckablePattern(Exception):
    """A ``patternProperties`` regex Python cannot evaluate (an ECMA-262-only construct)."""


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UncheckablePattern(pattern) from exc


def relax(verdict: Verdict) -> Verdict:
    """A failure that only documents with unconstrained extra properties can hit."""
    return Verdict.STRICT_ONLY if verdict is Verdict.BREAKING else verdict


@dataclass(frozen=True)
class ContentModel:
    properties: dict[str, Schema]
    patterns: dict[str, Schema]
    additional: Schema

    @classmethod
    def of(cls, node: Node) -> ContentModel:
        return cls(
            dict(node.get("properties", {})),
            dict(node.get("patternProperties", {})),
            node.get("additionalProperties", True),
        )

    def governing(self, name: str) -> tuple[Schema, str]:
        """The schema a property ``name`` must satisfy here, and how it is governed."""
        matching = [s for r, s in self.patterns.items() if _regex(r).search(name)]
        if name in self.properties:
            parts = [self.properties[name], *matching]
            return (parts[0] if len(parts) == 1 else {"allOf": parts}), DECLARED
        if matching:
            return (matching[0] if len(matching) == 1 else {"allOf": matching}), PARTIAL
        if self.additional is False:
            return False, CLOSED
        if is_trivial(self.additional):
            return True, OPEN
        return self.additional, PARTIAL


def _why(changes: list[Change], direction: str) -> str:
    for change in changes:
        if getattr(change, direction) > Verdict.COMPATIBLE:
            return f" ({change.kind} at {change.pointer or '/'}: {change.description})"
    return ""


def compare_object(compare: Compare, o: Node, n: Node, ptr: str) -> list[Change]:
    mo, mn = ContentModel.of(o), ContentModel.of(n)
    changes: list[Change] = []
    try:
        changes += _properties(compare, mo, mn, ptr)
        changes += _regions(compare, mo, mn, ptr)
    except UncheckablePattern as exc:
        changes.append(
            uncheckable(ptr + "/patternProperties", f"pattern {exc} cannot be evaluated")
        )
    changes += _required(o, n, ptr)
    changes += lower_bound(o, n, ptr, "minProperties", "MIN_PROPERTIES")
    changes += upper_bound(o, n, ptr, "maxProperties", "MAX_PROPERTIES")
    changes += compare(
        o.get("propertyNames", True), n.get("propertyNames", True), ptr + "/propertyNames"
    )
    changes += _dependent_required(o, n, ptr)
    ds_o, ds_n = o.get("dependentSchemas", {}), n.get("dependentSchemas", {})
    for name in sorted(ds_o.keys() | ds_n.keys()):
        # "if NAME is present, the object must match S" only gets looser as S does.
        where = ptr + pointer_join("dependentSchemas", name)
        changes += compare(ds_o.get(name, True), ds_n.get(name, True), where)
    if ("unevaluatedProperties" in o or "unevaluatedProperties" in n) and not same(o, n):
        changes.append(
            uncheckable(
                ptr + "/unevaluatedProperties",
                "unevaluatedProperties next to in-place applicators: what it covers is not decided",
            )
        )
    return changes


def _properties(compare: Compare, mo: ContentModel, mn: ContentModel, ptr: str) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(mo.properties.keys() | mn.properties.keys()):
        where = ptr + pointer_join("properties", name)
        old_schema, old_model = mo.governing(name)
        new_schema, new_model = mn.governing(name)
        sub = compare(old_schema, new_schema, where)
        if old_model == DECLARED and new_model == DECLARED:
            changes += sub
        elif new_model == DECLARED:
            changes.append(_added(name, where, old_model, sub))
        else:
            changes.append(_removed(name, where, new_model, sub))
    return changes


def _added(name: str, where: str, old_model: str, sub: list[Change]) -> Change:
    backward, forward = worst(sub, "backward"), worst(sub, "forward")
    if old_model == OPEN:
        kind = Kind.PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
        backward = relax(backward)
        text = f"property {name!r} added; OLD accepted any value under this name"
    elif old_model == CLOSED:
        kind = Kind.PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL
        text = f"property {name!r} added; OLD rejected this name (additionalProperties false)"
    elif backward is Verdict.COMPATIBLE:
        kind = Kind.PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
        text = f"property {name!r} added; it accepts every value OLD allowed under this name"
    else:
        kind = Kind.PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
        text = f"property {name!r} added; it rejects values OLD allowed under this name"
    why = _why(sub, "backward") or _why(sub, "forward")
    return Change(kind, where, text + why, backward, forward)


def _removed(name: str, where: str, new_model: str, sub: list[Change]) -> Change:
    backward, forward = worst(sub, "backward"), worst(sub, "forward")
    if new_model == OPEN:
        kind = Kind.PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
        forward = relax(forward)
        text = f"property {name!r} removed; NEW accepts any value under this name"
    elif new_model == CLOSED:
        kind = Kind.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL
        text = f"property {name!r} removed; NEW rejects this name (additionalProperties false)"
    elif backward is Verdict.COMPATIBLE:
        kind = Kind.PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
        text = f"property {name!r} removed; NEW still accepts every value OLD allowed"
    else:
        kind = Kind.PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
        text = f"property {name!r} removed; NEW rejects values OLD allowed under this name"
    why = _why(sub, "backward") or _why(sub, "forward")
    return Change(kind, where, text + why, backward, forward)


def _regions(compare: Compare, mo: ContentModel, mn: ContentModel, ptr: str) -> list[Change]:
    """Names no ``properties`` entry mentions: pattern regions and the additional region.

    With the same regexes on both sides, each region is compared with its counterpart. When
    regexes are added or removed, regex overlap is not decided: every region that may hold a
    name on the source side is checked against the region it lands in on the other side.
    """
    changes: list[Change] = []
    common = sorted(mo.patterns.keys() & mn.patterns.keys())
    for regex in [*mo.patterns, *mn.patterns]:
        _regex(regex)  # fail early (uncheckable) on a regex Python cannot compile
    for regex in common:
        where = ptr + pointer_join("patternProperties", regex)
        changes += compare(mo.patterns[regex], mn.patterns[regex], where)
    for regex in sorted(mn.patterns.keys() - mo.patterns.keys()):
        where = ptr + pointer_join("patternProperties", regex)
        target = mn.patterns[regex]
        # OLD documents: a name matching the new regex was governed by some old regex or by
        # the old additionalProperties.
        backward = Verdict.COMPATIBLE
        why = ""
        for source in mo.patterns.values():
            sub = compare(source, target, where)
            backward = max(backward, worst(sub, "backward"))
            why = why or _why(sub, "backward")
        sub = compare(mo.additional, target, where)
        from_additional = worst(sub, "backward")
        backward = max(
            backward, relax(from_additional) if is_trivial(mo.additional) else from_additional
        )
        why = why or _why(sub, "backward")
        # NEW documents: such a name falls under OLD's additionalProperties (or an old regex,
        # which that regex's own check covers).
        forward = worst(sub, "forward")
        why = why or _why(sub, "forward")
        changes.append(
            Change(
                Kind.PATTERN_PROPERTY_ADDED,
                where,
                f"patternProperties {regex!r} added{why}",
                backward,
                forward,
            )
        )
    for regex in sorted(mo.patterns.keys() - mn.patterns.keys()):
        where = ptr + pointer_join("patternProperties", regex)
        source = mo.patterns[regex]
        forward = Verdict.COMPATIBLE
        why = ""
        for target in mn.patterns.values():
            sub = compare(source, target, where)
            forward = max(forward, worst(sub, "forward"))
            why = why or _why(sub, "forward")
        sub = compare(source, mn.additional, where)
        to_additional = worst(sub, "forward")
        forward = max(forward, relax(to_additional) if is_trivial(mn.additional) else to_additional)
        backward = worst(sub, "backward")
        why = _why(sub, "backward") or why or _why(sub, "forward")
        changes.append(
            Change(
                Kind.PATTERN_PROPERTY_REMOVED,
                where,
                f"patternProperties {regex!r} removed{why}",
                backward,
                forward,
            )
        )
    changes += _additional(compare, mo.additional, mn.additional, ptr)
    return changes


def _additional(compare: Compare, before: Schema, after: Schema, ptr: str) -> list[Change]:
    where = ptr + "/additionalProperties"
    sub = compare(before, after, where)
    open_before, open_after = is_trivial(before), is_trivial(after)
    if not sub or (open_before and open_after):
        return sub
    if not open_before and not open_after and before is not False and after is not False:
        return sub  # a schema on both sides: its own changes say it all
    backward, forward = worst(sub, "backward"), worst(sub, "forward")
    if open_before:
        backward = relax(backward)
    if open_after:
        forward = relax(forward)
    if open_before and after is False:
        kind, text = Kind.ADDITIONAL_PROPERTIES_REMOVED, "additionalProperties: open -> false"
    elif before is False and open_after:
        kind, text = Kind.ADDITIONAL_PROPERTIES_ADDED, "additionalProperties: false -> open"
    elif open_before:
        kind, text = Kind.ADDITIONAL_PROPERTIES_NARROWED, "additionalProperties: open -> a schema"
    elif open_after:
        kind, text = Kind.ADDITIONAL_PROPERTIES_EXTENDED, "additionalProperties: a schema -> open"
    elif before is False:
        kind, text = Kind.ADDITIONAL_PROPERTIES_EXTENDED, "additionalProperties: false -> a schema"
    else:
        kind, text = Kind.ADDITIONAL_PROPERTIES_NARROWED, "additionalProperties: a schema -> false"
    return [Change(kind, where, text, backward, forward)]


def _required(o: Node, n: Node, ptr: str) -> list[Change]:
    before, after = o.get("required", []), n.get("required", [])
    changes: list[Change] = []
    where = ptr + "/required"
    for name in [x for x in after if x not in before]:
        if _has_default(n.get("properties", {}).get(name)):
            # Compatible only for readers that fill in defaults: Confluent's assumption, which
            # a plain validator does not share. Hence breaking under strict only.
            changes.append(
                Change(
                    Kind.REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED,
                    where,
                    f"{name!r} is now required (it has a default)",
                    Verdict.STRICT_ONLY,
                    Verdict.COMPATIBLE,
                )
            )
        else:
            changes.append(
                narrows(Kind.REQUIRED_ATTRIBUTE_ADDED, where, f"{name!r} is now required")
            )
    for name in [x for x in before if x not in after]:
        change = widens(Kind.REQUIRED_ATTRIBUTE_REMOVED, where, f"{name!r} is no longer required")
        if _has_default(o.get("properties", {}).get(name)):
            # The mirror image: OLD readers that fill in the default accept NEW's documents.
            change = change.with_verdicts(Verdict.COMPATIBLE, Verdict.STRICT_ONLY)
        changes.append(change)
    return changes


def _has_default(schema: Schema) -> bool:
    return isinstance(schema, dict) and "default" in schema


def _dependent_required(o: Node, n: Node, ptr: str) -> list[Change]:
    do, dn = o.get("dependentRequired", {}), n.get("dependentRequired", {})
    changes: list[Change] = []
    for name in sorted(do.keys() | dn.keys()):
        before, after = set(do.get(name, [])), set(dn.get(name, []))
        where = ptr + pointer_join("dependentRequired", name)
        if before == after:
            continue
        if name not in do:
            changes.append(
                narrows(
                    Kind.DEPENDENCY_ARRAY_ADDED,
                    where,
                    f"when {name!r} is present, {sorted(after)} are required",
                )
            )
        elif name not in dn:
            changes.append(
                widens(Kind.DEPENDENCY_ARRAY_REMOVED, where, f"dependency of {name!r} removed")
            )
        elif before < after:
            changes.append(
                narrows(
                    Kind.DEPENDENCY_ARRAY_EXTENDED,
                    where,
                    f"{name!r} now also requires {sorted(after - before)}",
                )
            )
        elif after < before:
            changes.append(
                widens(
                    Kind.DEPENDENCY_ARRAY_NARROWED,
                    where,
                    f"{name!r} no longer requires {sorted(before - after)}",
                )
            )
        else:
            changes.append(
                changes_both(
                    Kind.DEPENDENCY_ARRAY_CHANGED, where, f"{sorted(before)} -> {sorted(after)}"
                )
            )
    return changes
