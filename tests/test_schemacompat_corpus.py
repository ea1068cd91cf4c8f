"""The table-driven corpus: old/new schema pairs with their expected verdicts.

Each case in tests/schemacompat_cases/*.json gives ``strict`` (and, where it differs,
``lenient``) as ``[backward, forward, full]``, optionally the change ``kinds`` and ``pointers``
that must be reported, and ``witness`` documents proving a breaking verdict is real: a
``backward`` witness is valid under OLD and invalid under NEW (checked with jsonschema), a
``forward`` witness the reverse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for

from migrate.schemacompat import Mode, Policy, compare_sides, is_compatible
from migrate.schemacompat.loading import build_side, check_schema, layered_registry

CASES_DIR = Path(__file__).parent / "schemacompat_cases"
MODES = (Mode.BACKWARD, Mode.FORWARD, Mode.FULL)


def _load_cases() -> list[Any]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for case in json.loads(path.read_text("utf-8")):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


CASES = _load_cases()


def diff(old: Any, new: Any) -> list[Any]:
    registry = layered_registry([])
    return compare_sides(
        build_side("old", old, "urn:case:old", registry),
        build_side("new", new, "urn:case:new", registry),
    )


def _valid(schema: Any, document: Any) -> bool:
    return bool(validator_for(schema)(schema).is_valid(document))


def test_the_corpus_is_big_enough_and_consistent() -> None:
    assert len(CASES) >= 60
    names = [p.values[0]["name"] for p in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for param in CASES:
        case = param.values[0]
        for policy in ("strict", "lenient"):
            if policy in case:
                backward, forward, full = case[policy]
                assert full == (backward and forward), f"{case['name']}: full != both"


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    old, new = case["old"], case["new"]
    check_schema(old, "old")
    check_schema(new, "new")
    changes = diff(old, new)
    expected = {"strict": case["strict"], "lenient": case.get("lenient", case["strict"])}
    for policy_name, verdicts in expected.items():
        policy = Policy(policy_name)
        got = [is_compatible(changes, mode, policy) for mode in MODES]
        assert got == verdicts, (
            f"{policy_name} [backward, forward, full]: got {got}, expected {verdicts}; "
            f"changes: {changes}"
        )
    kinds = {str(c.kind) for c in changes}
    for kind in case.get("kinds", []):
        assert kind in kinds, f"{kind} not reported; got {sorted(kinds)}"
    pointers = {c.pointer for c in changes}
    for pointer in case.get("pointers", []):
        assert pointer in pointers, f"{pointer} not reported; got {sorted(pointers)}"


@pytest.mark.parametrize("case", [c for c in CASES if "witness" in c.values[0]])
def test_witnesses_prove_the_breaks(case: dict[str, Any]) -> None:
    """A breaking verdict with a witness is a real break, not only a conservative one."""
    witness = case["witness"]
    if "backward" in witness:
        assert not case["strict"][0]
        assert _valid(case["old"], witness["backward"])
        assert not _valid(case["new"], witness["backward"])
    if "forward" in witness:
        assert not case["strict"][1]
        assert _valid(case["new"], witness["forward"])
        assert not _valid(case["old"], witness["forward"])


def test_both_directions_are_each_others_mirror() -> None:
    """Swapping OLD and NEW swaps the backward and forward verdicts of every case."""
    for param in CASES:
        case = param.values[0]
        swapped = diff(case["new"], case["old"])
        for policy in Policy:
            expected = is_compatible(diff(case["old"], case["new"]), Mode.BACKWARD, policy)
            assert is_compatible(swapped, Mode.FORWARD, policy) == expected, case["name"]
