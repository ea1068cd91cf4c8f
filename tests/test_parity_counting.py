"""parity's counting path (no details) gives the report the pairing itself gives."""

from __future__ import annotations

from datetime import timedelta
from itertools import chain

from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.parity.counting import Counts, code, count_rows, fold
from migrate.parity.report import compare, report_of

KINDS = st.sampled_from([None, None, "entityCreated", "entityUpdated", "test"])
TOLERANCES = st.integers(min_value=0, max_value=300)
# Dense times make large clusters (the matching path), sparse ones mostly single events and
# v2/v3 couples (the inline path).
TIMES = st.one_of(st.integers(0, 1000), st.integers(0, 100_000))
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2", "u3", None]), st.sampled_from(["v2", "v3"]), TIMES, KINDS
    ),
    max_size=30,
)


Events = list[tuple[str | None, str, int, str | None]]


def store_order(events: Events) -> list[tuple[int, str | None, str, str | None]]:
    """``(time, kind, source, entity)`` rows as the store hands them: one entity's rows
    together, in (kind, time) order within it."""
    return sorted(
        ((t, kind, source, entity) for entity, source, t, kind in events),
        key=lambda r: (r[3] or "", r[3] is None, r[1] or "", r[1] is not None, r[0]),
    )


def counting_report(events: Events, tolerance: int, batch: int) -> dict[str, object]:
    rows = [(code(t, source), kind, entity) for t, kind, source, entity in store_order(events)]
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    counts = Counts()
    count_rows(chain.from_iterable(batches), tolerance, counts)
    return report_of(fold(counts)).to_json()


def pairing_report(events: Events, tolerance: int) -> dict[str, object]:
    """What ``compare`` (the details path) makes of the same rows."""
    grouped: dict[str | None, tuple[list[tuple[int, str | None]], list[tuple[int, str | None]]]]
    grouped = {}
    for t, kind, source, entity in store_order(events):
        v2, v3 = grouped.setdefault(entity, ([], []))
        (v2 if source == "v2" else v3).append((t, kind))
    entities = [(entity, v2, v3) for entity, (v2, v3) in grouped.items()]
    return compare(entities, timedelta(microseconds=tolerance)).to_json()


@settings(max_examples=500)
@given(EVENTS, TOLERANCES, st.integers(min_value=1, max_value=7))
def test_counting_gives_the_report_of_the_pairing(
    events: Events, tolerance: int, batch: int
) -> None:
    assert counting_report(events, tolerance, batch) == pairing_report(events, tolerance)


def test_clusters_are_cut_only_beyond_the_tolerance() -> None:
    # 0 (v2) - 10 (v3) - 20 (v2): one cluster at tolerance 10, one pair either way; the v2 event
    # at 31 is 11 from its neighbour and alone.
    events = [
        ("u", "v2", 0, None),
        ("u", "v3", 10, "a"),
        ("u", "v2", 20, "a"),
        ("u", "v2", 31, "a"),
    ]
    got = counting_report(events, 10, 100)
    assert got["matched"] == 1
    assert got == pairing_report(events, 10)
    # Exactly the tolerance apart still pairs.
    assert counting_report([("u", "v2", 0, "a"), ("u", "v3", 10, "a")], 10, 1)["matched"] == 1
    assert counting_report([("u", "v2", 0, "a"), ("u", "v3", 11, "a")], 10, 1)["matched"] == 0


def test_unknown_kinds_show_as_their_partners_kind() -> None:
    events = [("u", "v2", 0, None), ("u", "v3", 5, "a"), ("w", "v2", 0, "b"), ("w", "v3", 1, None)]
    got = counting_report(events, 10, 2)
    assert got == pairing_report(events, 10)
    assert got["by_kind"] == {
        "a": {
            "v2_total": 1,
            "v3_total": 1,
            "matched": 1,
            "v2_only": 0,
            "v3_only": 0,
            "coverage": 1.0,
        },
        "b": {
            "v2_total": 1,
            "v3_total": 1,
            "matched": 1,
            "v2_only": 0,
            "v3_only": 0,
            "coverage": 1.0,
        },
    }


@given(
    st.integers(min_value=0, max_value=10**6), st.integers(min_value=-(10**12), max_value=10**12)
)
def test_a_source_in_the_code_never_moves_the_tolerance(tolerance: int, t: int) -> None:
    # The source bit shifts a code by one: exactly the tolerance apart still pairs and one
    # microsecond more does not, whichever source comes first (pre-1970 times too).
    for first, second in (("v2", "v3"), ("v3", "v2")):
        within = [("u", first, t, "a"), ("u", second, t + tolerance, "a")]
        beyond = [("u", first, t, "a"), ("u", second, t + tolerance + 1, "a")]
        assert counting_report(within, tolerance, 2)["matched"] == 1
        assert counting_report(beyond, tolerance, 2)["matched"] == 0
