"""Rules for keywords that constrain a value directly: type, enum/const, numbers, strings, and
the numeric bounds shared by strings, arrays and objects."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from adapters.errors import pointer_join
from migrate.schemacompat.model import (
    Change,
    Kind,
    changes_both,
    narrows,
    neutral,
    widens,
)
from migrate.schemacompat.normalize import covers, describe_types, finite_values, type_set
from migrate.schemacompat.values import canon, short

Node = dict[str, Any]


def compare_type(o: Node, n: Node, ptr: str) -> list[Change]:
    to, tn = type_set(o), type_set(n)
    backward_ok, forward_ok = covers(to, tn), covers(tn, to)
    if backward_ok and forward_ok:
        return []
    where = ptr + "/type"
    text = f"type {describe_types(to)} -> {describe_types(tn)}"
    if backward_ok:
        return [widens(Kind.TYPE_EXTENDED, where, text)]
    if forward_ok:
        return [narrows(Kind.TYPE_NARROWED, where, text)]
    return [changes_both(Kind.TYPE_CHANGED, where, text)]


def compare_enum(o: Node, n: Node, ptr: str) -> list[Change]:
    vo, vn = finite_values(o), finite_values(n)
    if vo is None and vn is None:
        return []
    keyword = "const" if "const" in n or ("const" in o and "enum" not in n) else "enum"
    where = f"{ptr}/{keyword}"
    if vo is None:
        return [narrows(Kind.ENUM_ADDED, where, f"{keyword} {short(vn)} added")]
    if vn is None:
        return [widens(Kind.ENUM_REMOVED, where, f"{keyword} {short(vo)} removed")]
    old_set = {canon(v): v for v in vo}
    new_set = {canon(v): v for v in vn}
    if old_set.keys() == new_set.keys():
        return []
    added = [new_set[k] for k in new_set.keys() - old_set.keys()]
    removed = [old_set[k] for k in old_set.keys() - new_set.keys()]
    if not removed:
        return [widens(Kind.ENUM_ARRAY_EXTENDED, where, f"values added: {short(added)}")]
    if not added:
        return [narrows(Kind.ENUM_ARRAY_NARROWED, where, f"values removed: {short(removed)}")]
    return [
        changes_both(
            Kind.ENUM_ARRAY_CHANGED,
            where,
            f"values added: {short(added)}; values removed: {short(removed)}",
        )
    ]


def _number(value: Any) -> Fraction | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Fraction(value)


def _lower(node: Node) -> tuple[Fraction, bool] | None:
    """The tightest lower bound as (value, exclusive); (v, True) is tighter than (v, False)."""
    found = [
        (number, exclusive)
        for keyword, exclusive in (("minimum", False), ("exclusiveMinimum", True))
        if (number := _number(node.get(keyword))) is not None
    ]
    return max(found) if found else None


def _upper(node: Node) -> tuple[Fraction, bool] | None:
    found = [
        (number, exclusive)
        for keyword, exclusive in (("maximum", False), ("exclusiveMaximum", True))
        if (number := _number(node.get(keyword))) is not None
    ]
    return min(found, key=lambda b: (b[0], not b[1])) if found else None


def _show(bound: tuple[Fraction, bool], side: str) -> str:
    value, exclusive = bound
    shown = str(value.numerator) if value.denominator == 1 else str(float(value))
    return f"{'exclusive' + side.capitalize() if exclusive else side} {shown}"


def compare_numbers(o: Node, n: Node, ptr: str) -> list[Change]:
    changes: list[Change] = []
    lo, ln = _lower(o), _lower(n)
    if lo != ln:
        exclusive = (ln or lo or (0, False))[1]
        prefix = "EXCLUSIVE_MINIMUM" if exclusive else "MINIMUM"
        where = f"{ptr}/{'exclusiveMinimum' if exclusive else 'minimum'}"
        if lo is None and ln is not None:
            changes.append(narrows(Kind[prefix + "_ADDED"], where, f"{_show(ln, 'minimum')} added"))
        elif ln is None and lo is not None:
            changes.append(
                widens(Kind[prefix + "_REMOVED"], where, f"{_show(lo, 'minimum')} removed")
            )
        elif lo is not None and ln is not None:
            text = f"{_show(lo, 'minimum')} -> {_show(ln, 'minimum')}"
            # A lower bound is looser when smaller; at equal values inclusive is looser.
            if ln < lo:
                changes.append(widens(Kind[prefix + "_DECREASED"], where, text))
            else:
                changes.append(narrows(Kind[prefix + "_INCREASED"], where, text))
    uo, un = _upper(o), _upper(n)
    if uo != un:
        exclusive = (un or uo or (0, False))[1]
        prefix = "EXCLUSIVE_MAXIMUM" if exclusive else "MAXIMUM"
        where = f"{ptr}/{'exclusiveMaximum' if exclusive else 'maximum'}"
        if uo is None and un is not None:
            changes.append(narrows(Kind[prefix + "_ADDED"], where, f"{_show(un, 'maximum')} added"))
        elif un is None and uo is not None:
            changes.append(
                widens(Kind[prefix + "_REMOVED"], where, f"{_show(uo, 'maximum')} removed")
            )
        elif uo is not None and un is not None:
            text = f"{_show(uo, 'maximum')} -> {_show(un, 'maximum')}"
            if (un[0], not un[1]) > (uo[0], not uo[1]):
                changes.append(widens(Kind[prefix + "_INCREASED"], where, text))
            else:
                changes.append(narrows(Kind[prefix + "_DECREASED"], where, text))
    changes.extend(_multiple_of(o, n, ptr))
    return changes


def _multiple_of(o: Node, n: Node, ptr: str) -> list[Change]:
    mo, mn = _number(o.get("multipleOf")), _number(n.get("multipleOf"))
    if mo == mn:
        return []
    where = ptr + "/multipleOf"
    if mo is None:
        return [narrows(Kind.MULTIPLE_OF_ADDED, where, f"multipleOf {mn} added")]
    if mn is None:
        return [widens(Kind.MULTIPLE_OF_REMOVED, where, f"multipleOf {mo} removed")]
    text = f"multipleOf {mo} -> {mn}"
    if (mo / mn).denominator == 1:  # every multiple of the old value is a multiple of the new
        return [widens(Kind.MULTIPLE_OF_REDUCED, where, text)]
    if (mn / mo).denominator == 1:
        return [narrows(Kind.MULTIPLE_OF_EXPANDED, where, text)]
    return [changes_both(Kind.MULTIPLE_OF_CHANGED, where, text)]


def compare_strings(o: Node, n: Node, ptr: str) -> list[Change]:
    changes = lower_bound(o, n, ptr, "minLength", "MIN_LENGTH")
    changes += upper_bound(o, n, ptr, "maxLength", "MAX_LENGTH")
    for keyword, prefix in (("pattern", "PATTERN"), ("format", "FORMAT")):
        before, after = o.get(keyword), n.get(keyword)
        where = f"{ptr}/{keyword}"
        if before == after:
            continue
        if before is None:
            changes.append(narrows(Kind[prefix + "_ADDED"], where, f"{keyword} {after!r} added"))
        elif after is None:
            changes.append(
                widens(Kind[prefix + "_REMOVED"], where, f"{keyword} {before!r} removed")
            )
        else:
            # Inclusion between two regular expressions (or formats) is not decided here:
            # like Confluent, a changed pattern is breaking both ways.
            changes.append(
                changes_both(Kind[prefix + "_CHANGED"], where, f"{keyword} {before!r} -> {after!r}")
            )
    return changes


def lower_bound(
    o: Node, n: Node, ptr: str, keyword: str, prefix: str, floor: int = 0
) -> list[Change]:
    """An inclusive lower bound (minLength, minItems, ...); absent means ``floor``."""
    before, after = o.get(keyword), n.get(keyword)
    eff_before = floor if before is None else before
    eff_after = floor if after is None else after
    if eff_before == eff_after:
        return []
    where = f"{ptr}/{keyword}"
    if before is None:
        return [narrows(Kind[prefix + "_ADDED"], where, f"{keyword} {after} added")]
    if after is None:
        return [widens(Kind[prefix + "_REMOVED"], where, f"{keyword} {before} removed")]
    text = f"{keyword} {before} -> {after}"
    if eff_after < eff_before:
        return [widens(Kind[prefix + "_DECREASED"], where, text)]
    return [narrows(Kind[prefix + "_INCREASED"], where, text)]


def upper_bound(o: Node, n: Node, ptr: str, keyword: str, prefix: str) -> list[Change]:
    """An inclusive upper bound (maxLength, maxItems, ...); absent means unbounded."""
    before, after = o.get(keyword), n.get(keyword)
    if before == after:
        return []
    where = f"{ptr}/{keyword}"
    if before is None:
        return [narrows(Kind[prefix + "_ADDED"], where, f"{keyword} {after} added")]
    if after is None:
        return [widens(Kind[prefix + "_REMOVED"], where, f"{keyword} {before} removed")]
    text = f"{keyword} {before} -> {after}"
    if after > before:
        return [widens(Kind[prefix + "_INCREASED"], where, text)]
    return [narrows(Kind[prefix + "_DECREASED"], where, text)]


_NAMED_ANNOTATIONS = {
    "title": Kind.TITLE_CHANGED,
    "description": Kind.DESCRIPTION_CHANGED,
    "default": Kind.DEFAULT_CHANGED,
}


def compare_annotations(
    o: Node, n: Node, ptr: str, annotation_keys: frozenset[str]
) -> list[Change]:
    """Annotation changes: reported for the record, never breaking."""
    changes: list[Change] = []
    others: list[str] = []
    for key in sorted((o.keys() | n.keys()) & annotation_keys):
        if canon(o.get(key)) == canon(n.get(key)):
            continue
        kind = _NAMED_ANNOTATIONS.get(key)
        if kind is None:
            others.append(key)
        else:
            changes.append(neutral(kind, ptr + pointer_join(key), f"{key} changed"))
    if others:
        changes.append(
            neutral(Kind.ANNOTATION_CHANGED, ptr, f"annotations changed: {', '.join(others)}")
        )
    return changes
