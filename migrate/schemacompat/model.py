"""What a schema comparison produces: changes, their verdicts, and how a mode and policy read them.

Every change is described once, in the OLD → NEW direction, and carries two verdicts:

* ``backward``: may a document valid under OLD be invalid under NEW because of this change?
* ``forward``: may a document valid under NEW be invalid under OLD because of it?

A mode picks the directions that matter (``full`` = both) and a policy decides how the two
assumption-dependent verdicts count (see :class:`Verdict`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum


class Mode(StrEnum):
    BACKWARD = "backward"  # every document valid under OLD is valid under NEW
    FORWARD = "forward"  # every document valid under NEW is valid under OLD
    FULL = "full"  # both

    @property
    def directions(self) -> tuple[str, ...]:
        if self is Mode.FULL:
            return ("backward", "forward")
        return (self.value,)


class Policy(StrEnum):
    STRICT = "strict"
    LENIENT = "lenient"


class Verdict(IntEnum):
    """How one change affects one direction, ordered from harmless to harmful.

    The order matters: it is how verdicts are combined (worst of several changes, best of
    several alternatives) and it is monotone for both policies.
    """

    # No document of the source side can be rejected because of this change.
    COMPATIBLE = 0
    # Breaks only documents that carry properties their schema leaves completely unconstrained
    # (open content), or documents that lack a property a reader would fill from its `default`.
    # Breaking under the strict policy, compatible under the lenient one.
    STRICT_ONLY = 1
    # Too complex to decide (`not`, a changed `if`, overlapping `oneOf` branches, ...).
    # Breaking under strict, a warning under lenient: never silently "compatible".
    UNCHECKABLE = 2
    # Some document of the source side is (or may be) rejected.
    BREAKING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BREAKING = "breaking"


def status_of(verdict: Verdict, policy: Policy) -> Status:
    if verdict is Verdict.COMPATIBLE:
        return Status.OK
    if verdict is Verdict.BREAKING or policy is Policy.STRICT:
        return Status.BREAKING
    return Status.WARNING if verdict is Verdict.UNCHECKABLE else Status.OK


class Kind(StrEnum):
    """Stable change kinds, named after Confluent Schema Registry's ``Difference.Type``."""

    # Annotations: never affect validity.
    ID_CHANGED = "ID_CHANGED"
    TITLE_CHANGED = "TITLE_CHANGED"
    DESCRIPTION_CHANGED = "DESCRIPTION_CHANGED"
    DEFAULT_CHANGED = "DEFAULT_CHANGED"
    ANNOTATION_CHANGED = "ANNOTATION_CHANGED"
    # Whole schemas.
    TYPE_EXTENDED = "TYPE_EXTENDED"
    TYPE_NARROWED = "TYPE_NARROWED"
    TYPE_CHANGED = "TYPE_CHANGED"
    FALSE_SCHEMA_ADDED = "FALSE_SCHEMA_ADDED"
    FALSE_SCHEMA_REMOVED = "FALSE_SCHEMA_REMOVED"
    ENUM_ADDED = "ENUM_ADDED"
    ENUM_REMOVED = "ENUM_REMOVED"
    ENUM_ARRAY_EXTENDED = "ENUM_ARRAY_EXTENDED"
    ENUM_ARRAY_NARROWED = "ENUM_ARRAY_NARROWED"
    ENUM_ARRAY_CHANGED = "ENUM_ARRAY_CHANGED"
    ENUM_VALUE_REJECTED = "ENUM_VALUE_REJECTED"
    # Strings.
    MAX_LENGTH_ADDED = "MAX_LENGTH_ADDED"
    MAX_LENGTH_REMOVED = "MAX_LENGTH_REMOVED"
    MAX_LENGTH_INCREASED = "MAX_LENGTH_INCREASED"
    MAX_LENGTH_DECREASED = "MAX_LENGTH_DECREASED"
    MIN_LENGTH_ADDED = "MIN_LENGTH_ADDED"
    MIN_LENGTH_REMOVED = "MIN_LENGTH_REMOVED"
    MIN_LENGTH_INCREASED = "MIN_LENGTH_INCREASED"
    MIN_LENGTH_DECREASED = "MIN_LENGTH_DECREASED"
    PATTERN_ADDED = "PATTERN_ADDED"
    PATTERN_REMOVED = "PATTERN_REMOVED"
    PATTERN_CHANGED = "PATTERN_CHANGED"
    FORMAT_ADDED = "FORMAT_ADDED"
    FORMAT_REMOVED = "FORMAT_REMOVED"
    FORMAT_CHANGED = "FORMAT_CHANGED"
    # Numbers.
    MAXIMUM_ADDED = "MAXIMUM_ADDED"
    MAXIMUM_REMOVED = "MAXIMUM_REMOVED"
    MAXIMUM_INCREASED = "MAXIMUM_INCREASED"
    MAXIMUM_DECREASED = "MAXIMUM_DECREASED"
    MINIMUM_ADDED = "MINIMUM_ADDED"
    MINIMUM_REMOVED = "MINIMUM_REMOVED"
    MINIMUM_INCREASED = "MINIMUM_INCREASED"
    MINIMUM_DECREASED = "MINIMUM_DECREASED"
    EXCLUSIVE_MAXIMUM_ADDED = "EXCLUSIVE_MAXIMUM_ADDED"
    EXCLUSIVE_MAXIMUM_REMOVED = "EXCLUSIVE_MAXIMUM_REMOVED"
    EXCLUSIVE_MAXIMUM_INCREASED = "EXCLUSIVE_MAXIMUM_INCREASED"
    EXCLUSIVE_MAXIMUM_DECREASED = "EXCLUSIVE_MAXIMUM_DECREASED"
    EXCLUSIVE_MINIMUM_ADDED = "EXCLUSIVE_MINIMUM_ADDED"
    EXCLUSIVE_MINIMUM_REMOVED = "EXCLUSIVE_MINIMUM_REMOVED"
    EXCLUSIVE_MINIMUM_INCREASED = "EXCLUSIVE_MINIMUM_INCREASED"
    EXCLUSIVE_MINIMUM_DECREASED = "EXCLUSIVE_MINIMUM_DECREASED"
    MULTIPLE_OF_ADDED = "MULTIPLE_OF_ADDED"
    MULTIPLE_OF_REMOVED = "MULTIPLE_OF_REMOVED"
    MULTIPLE_OF_EXPANDED = "MULTIPLE_OF_EXPANDED"
    MULTIPLE_OF_REDUCED = "MULTIPLE_OF_REDUCED"
    MULTIPLE_OF_CHANGED = "MULTIPLE_OF_CHANGED"
    # Objects.
    REQUIRED_ATTRIBUTE_ADDED = "REQUIRED_ATTRIBUTE_ADDED"
    REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED = "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
    REQUIRED_ATTRIBUTE_REMOVED = "REQUIRED_ATTRIBUTE_REMOVED"
    MAX_PROPERTIES_ADDED = "MAX_PROPERTIES_ADDED"
    MAX_PROPERTIES_REMOVED = "MAX_PROPERTIES_REMOVED"
    MAX_PROPERTIES_INCREASED = "MAX_PROPERTIES_INCREASED"
    MAX_PROPERTIES_DECREASED = "MAX_PROPERTIES_DECREASED"
    MIN_PROPERTIES_ADDED = "MIN_PROPERTIES_ADDED"
    MIN_PROPERTIES_REMOVED = "MIN_PROPERTIES_REMOVED"
    MIN_PROPERTIES_INCREASED = "MIN_PROPERTIES_INCREASED"
    MIN_PROPERTIES_DECREASED = "MIN_PROPERTIES_DECREASED"
    ADDITIONAL_PROPERTIES_ADDED = "ADDITIONAL_PROPERTIES_ADDED"
    ADDITIONAL_PROPERTIES_REMOVED = "ADDITIONAL_PROPERTIES_REMOVED"
    ADDITIONAL_PROPERTIES_EXTENDED = "ADDITIONAL_PROPERTIES_EXTENDED"
    ADDITIONAL_PROPERTIES_NARROWED = "ADDITIONAL_PROPERTIES_NARROWED"
    PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL = "PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL"
    PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL = (
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    )
    PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL = (
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    )
    PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL = "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"
    PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL = (
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    )
    PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL = (
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    )
    PATTERN_PROPERTY_ADDED = "PATTERN_PROPERTY_ADDED"
    PATTERN_PROPERTY_REMOVED = "PATTERN_PROPERTY_REMOVED"
    DEPENDENCY_ARRAY_ADDED = "DEPENDENCY_ARRAY_ADDED"
    DEPENDENCY_ARRAY_REMOVED = "DEPENDENCY_ARRAY_REMOVED"
    DEPENDENCY_ARRAY_EXTENDED = "DEPENDENCY_ARRAY_EXTENDED"
    DEPENDENCY_ARRAY_NARROWED = "DEPENDENCY_ARRAY_NARROWED"
    DEPENDENCY_ARRAY_CHANGED = "DEPENDENCY_ARRAY_CHANGED"
    # Arrays.
    MAX_ITEMS_ADDED = "MAX_ITEMS_ADDED"
    MAX_ITEMS_REMOVED = "MAX_ITEMS_REMOVED"
    MAX_ITEMS_INCREASED = "MAX_ITEMS_INCREASED"
    MAX_ITEMS_DECREASED = "MAX_ITEMS_DECREASED"
    MIN_ITEMS_ADDED = "MIN_ITEMS_ADDED"
    MIN_ITEMS_REMOVED = "MIN_ITEMS_REMOVED"
    MIN_ITEMS_INCREASED = "MIN_ITEMS_INCREASED"
    MIN_ITEMS_DECREASED = "MIN_ITEMS_DECREASED"
    UNIQUE_ITEMS_ADDED = "UNIQUE_ITEMS_ADDED"
    UNIQUE_ITEMS_REMOVED = "UNIQUE_ITEMS_REMOVED"
    CONTAINS_ADDED = "CONTAINS_ADDED"
    CONTAINS_REMOVED = "CONTAINS_REMOVED"
    MIN_CONTAINS_INCREASED = "MIN_CONTAINS_INCREASED"
    MIN_CONTAINS_DECREASED = "MIN_CONTAINS_DECREASED"
    MAX_CONTAINS_ADDED = "MAX_CONTAINS_ADDED"
    MAX_CONTAINS_REMOVED = "MAX_CONTAINS_REMOVED"
    MAX_CONTAINS_INCREASED = "MAX_CONTAINS_INCREASED"
    MAX_CONTAINS_DECREASED = "MAX_CONTAINS_DECREASED"
    # Combinations.
    SUM_TYPE_EXTENDED = "SUM_TYPE_EXTENDED"
    SUM_TYPE_NARROWED = "SUM_TYPE_NARROWED"
    PRODUCT_TYPE_EXTENDED = "PRODUCT_TYPE_EXTENDED"
    PRODUCT_TYPE_NARROWED = "PRODUCT_TYPE_NARROWED"
    NOT_ADDED = "NOT_ADDED"
    NOT_REMOVED = "NOT_REMOVED"
    CONDITIONAL_ADDED = "CONDITIONAL_ADDED"
    CONDITIONAL_REMOVED = "CONDITIONAL_REMOVED"
    # Too complex to decide: breaking under strict, a warning under lenient.
    UNCHECKABLE = "UNCHECKABLE"
    # Files (schema check against a baseline).
    SCHEMA_FILE_ADDED = "SCHEMA_FILE_ADDED"
    SCHEMA_FILE_REMOVED = "SCHEMA_FILE_REMOVED"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between OLD and NEW at ``pointer`` (a JSON pointer into the schema)."""

    kind: Kind
    pointer: str
    description: str
    backward: Verdict
    forward: Verdict

    def verdict(self, mode: Mode) -> Verdict:
        return max(self.backward if d == "backward" else self.forward for d in mode.directions)

    def status(self, mode: Mode, policy: Policy) -> Status:
        return status_of(self.verdict(mode), policy)

    def breaking(self, mode: Mode, policy: Policy) -> bool:
        return self.status(mode, policy) is Status.BREAKING

    def with_verdicts(self, backward: Verdict, forward: Verdict) -> Change:
        return replace(self, backward=backward, forward=forward)


def widens(kind: Kind, pointer: str, description: str) -> Change:
    """NEW accepts more: OLD documents stay valid, NEW ones may not be valid under OLD."""
    return Change(kind, pointer, description, Verdict.COMPATIBLE, Verdict.BREAKING)


def narrows(kind: Kind, pointer: str, description: str) -> Change:
    """NEW accepts less: NEW documents are valid under OLD, OLD ones may be rejected."""
    return Change(kind, pointer, description, Verdict.BREAKING, Verdict.COMPATIBLE)


def changes_both(kind: Kind, pointer: str, description: str) -> Change:
    return Change(kind, pointer, description, Verdict.BREAKING, Verdict.BREAKING)


def neutral(kind: Kind, pointer: str, description: str) -> Change:
    return Change(kind, pointer, description, Verdict.COMPATIBLE, Verdict.COMPATIBLE)


def uncheckable(
    pointer: str,
    description: str,
    backward: Verdict = Verdict.UNCHECKABLE,
    forward: Verdict = Verdict.UNCHECKABLE,
) -> Change:
    return Change(Kind.UNCHECKABLE, pointer, description, backward, forward)


def worst(changes: Iterable[Change], direction: str) -> Verdict:
    verdicts = (c.backward if direction == "backward" else c.forward for c in changes)
    return max(verdicts, default=Verdict.COMPATIBLE)


def is_compatible(changes: Iterable[Change], mode: Mode, policy: Policy) -> bool:
    return not any(c.breaking(mode, policy) for c in changes)
