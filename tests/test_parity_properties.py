"""parity's pairing, proved on generated inputs: one-to-one, within the rules, and largest."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from parity_support import brute_force_maximum, compatible

from migrate.parity.matching import match
from migrate.parity.report import Event, compare

KINDS2 = st.sampled_from([None, None, "entityCreated", "entityUpdated", "entityDeleted"])
KINDS3 = st.sampled_from(["entityCreated", "entityUpdated", "entityDeleted", "test", None])
TIMES = st.integers(min_value=0, max_value=1000)
TOLERANCES = st.integers(min_value=0, max_value=300)

side2 = st.lists(st.tuples(TIMES, KINDS2), max_size=7)
side3 = st.lists(st.tuples(TIMES, KINDS3), max_size=7)


@given(side2, side3, TOLERANCES)
def test_the_pairing_is_one_to_one_and_within_the_rules(
    v2: list[tuple[int, str | None]], v3: list[tuple[int, str | None]], tolerance: int
) -> None:
    pairs = match(v2, v3, tolerance)
    assert len({i for i, _ in pairs}) == len(pairs)
    assert len({j for _, j in pairs}) == len(pairs)
    for i, j in pairs:
        assert abs(v2[i][0] - v3[j][0]) <= tolerance
        assert compatible(v2[i][1], v3[j][1])


@settings(max_examples=400)
@given(side2, side3, TOLERANCES)
def test_the_pairing_is_as_large_as_a_brute_force_maximum(
    v2: list[tuple[int, str | None]], v3: list[tuple[int, str | None]], tolerance: int
) -> None:
    assert len(match(v2, v3, tolerance)) == brute_force_maximum(v2, v3, tolerance)


# Mixed kinds on both sides are where a greedy pass alone goes wrong: give them weight.
mixed2 = st.lists(st.tuples(TIMES, st.sampled_from([None, "a", "b"])), min_size=2, max_size=8)
mixed3 = st.lists(st.tuples(TIMES, st.sampled_from(["a", "b", None])), min_size=2, max_size=8)


@settings(max_examples=400)
@given(mixed2, mixed3, TOLERANCES)
def test_mixed_known_and_unknown_kinds_still_give_a_maximum(
    v2: list[tuple[int, str | None]], v3: list[tuple[int, str | None]], tolerance: int
) -> None:
    assert len(match(v2, v3, tolerance)) == brute_force_maximum(v2, v3, tolerance)


def test_the_cases_where_earliest_deadline_greedy_fails() -> None:
    # An unknown-kind v2 event must leave a known-kind v3 event to the known-kind v2 event ...
    # (earliest deadline first would give the v3 "a" event to the unknown-kind v2 event).
    assert len(match([(1, "a"), (0, None)], [(0, "a"), (1, "b")], 2)) == 2
    # ... and take it when the known-kind v2 event reaches further ("known first" fails here).
    assert len(match([(0, "a"), (-1, None), (9, "b")], [(-1, "a"), (2, "a"), (9, "b")], 2)) == 3


entity_events = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", None]), st.sampled_from(["v2", "v3"]), TIMES, KINDS3),
    max_size=14,
)


def groups(
    events: list[tuple[str | None, str, int, str | None]],
) -> list[tuple[str | None, list[Event], list[Event]]]:
    by_entity: dict[str | None, tuple[list[Event], list[Event]]] = defaultdict(lambda: ([], []))
    for n, (entity, source, t, kind) in enumerate(events):
        v2, v3 = by_entity[entity]
        (v2 if source == "v2" else v3).append((t, kind, f"e{n}"))
    return [(entity, v2, v3) for entity, (v2, v3) in by_entity.items()]


@given(entity_events, TOLERANCES)
def test_no_pair_crosses_entities_and_the_counts_add_up(
    events: list[tuple[str | None, str, int, str | None]], tolerance: int
) -> None:
    grouped = groups(events)
    report = compare(grouped, timedelta(microseconds=tolerance), details=True)
    expected = sum(
        brute_force_maximum([e[:2] for e in v2], [e[:2] for e in v3], tolerance)
        for entity, v2, v3 in grouped
        if entity is not None  # events without an entity never pair
    )
    assert report.matched == expected
    assert report.v2_total == sum(1 for e in events if e[1] == "v2")
    assert report.v3_total == sum(1 for e in events if e[1] == "v3")
    assert report.unmatched is not None
    assert len(report.unmatched) == report.v2_only + report.v3_only
    for counts in report.by_kind.values():
        data = counts.to_json()
        assert data["v2_only"] >= 0
        assert data["v3_only"] >= 0
        assert data["v2_total"] == data["matched"] + data["v2_only"]


@given(entity_events, TOLERANCES)
def test_coverage_is_1_exactly_when_every_v2_event_can_have_a_partner(
    events: list[tuple[str | None, str, int, str | None]], tolerance: int
) -> None:
    grouped = groups(events)
    report = compare(grouped, timedelta(microseconds=tolerance))
    assume(report.v2_total > 0)
    everyone = all(
        entity is not None
        and brute_force_maximum([e[:2] for e in v2], [e[:2] for e in v3], tolerance) == len(v2)
        for entity, v2, v3 in grouped
        if v2
    )
    assert (report.coverage == 1) is everyone


changes = st.lists(
    st.tuples(
        st.sampled_from([None, "entityCreated", "entityUpdated"]),  # v2 kind
        st.booleans(),  # v3 delivered?
        st.floats(min_value=-1, max_value=1),  # where within the tolerance the v3 time is
    ),
    max_size=12,
)


@given(changes, st.floats(min_value=-1, max_value=1), st.integers(min_value=0, max_value=11))
def test_moving_a_v3_event_inside_the_tolerance_changes_nothing(
    plan: list[tuple[str | None, bool, float]], new_place: float, which: int
) -> None:
    tolerance = 120_000_000
    spacing = 10 * tolerance  # changes of one entity far apart: each has one possible partner

    def report_for(places: list[float]) -> dict[str, object]:
        v2: list[Event] = []
        v3: list[Event] = []
        for n, ((kind, delivered, _), place) in enumerate(zip(plan, places, strict=True)):
            v2.append((n * spacing, kind, f"v2-{n}"))
            if delivered:
                v3.append((n * spacing + round(place * tolerance), kind or "entityUpdated", None))
        return compare([("u1", v2, v3)], timedelta(microseconds=tolerance)).to_json()

    places = [p for _, _, p in plan]
    before = report_for(places)
    if plan:
        places[which % len(plan)] = new_place
    assert report_for(places) == before
    delivered = sum(1 for _, d, _ in plan if d)
    assert before["matched"] == delivered


def test_a_brute_force_sanity_check() -> None:
    # The reference itself: three v2 events crowding two v3 events.
    assert brute_force_maximum([(0, None), (1, None), (2, None)], [(1, "a"), (5, "b")], 1) == 1
    for size in range(4):
        points: list[tuple[int, str | None]] = [(t, None) for t in range(size)]
        assert brute_force_maximum(points, points, 0) == size
    assert brute_force_maximum([(0, "a")], [(0, "b")], 5) == 0
