"""rehearse's pure parts: the stream's timeline, the faults' choices, the loopback endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.checklist import Check, Verdict
from migrate.rehearse.faults import FAULTS, DeliveryMischief, parse_faults
from migrate.rehearse.plan import LAST_RETRY_AFTER, Chunk, Switch, plan_stream, stream_start
from migrate.rehearse.steps import loopback_endpoint
from migrate.simulator import generate_changes

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
faults = st.frozensets(st.sampled_from(sorted(FAULTS)))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), chosen=faults, seed=st.integers(0, 5))
def test_every_change_is_published_once_in_order_never_before_it_happens(
    n: int, chosen: frozenset[str], seed: int
) -> None:
    changes = generate_changes(n, seed=seed, start=NOW - timedelta(hours=3))
    plan = plan_stream(changes, chosen, seed)
    published = [c for p in plan.points if isinstance(p, Chunk) for c in p.changes]
    assert published == changes
    times = [p.at for p in plan.points]
    assert times == sorted(times)
    for point in plan.points:
        if isinstance(point, Chunk):
            # Signed when its last change happened: iat never before a toe of the chunk.
            assert all(c.occurred <= point.at for c in point.changes)
    switches = [p for p in plan.points if isinstance(p, Switch)]
    if "listener-down" in chosen and n >= 4:
        assert [s.up for s in switches] == [False, True, False, True]
        assert switches[-1].at == changes[-1].occurred + LAST_RETRY_AFTER
    else:
        assert switches == []
    if "no-subscription" in chosen:
        assert plan.v3_skipped == frozenset(range(n))
    elif "drop-v3" not in chosen:
        assert plan.v3_skipped == frozenset()
    if "bad-signature" not in chosen:
        assert plan.forged == frozenset()
    assert not plan.forged & plan.v3_skipped
    assert bool(plan.toe_offset) == ("clock-skew" in chosen)


def test_drop_and_forge_touch_about_one_change_in_twenty_the_same_every_time() -> None:
    changes = generate_changes(4000, seed=3)
    dropped = plan_stream(changes, frozenset({"drop-v3"}), 3).v3_skipped
    assert 150 < len(dropped) < 250
    assert plan_stream(changes, frozenset({"drop-v3"}), 3).v3_skipped == dropped
    assert plan_stream(changes, frozenset({"drop-v3"}), 4).v3_skipped != dropped


def test_mischief_loses_answers_and_requests_and_late_ones_get_through_at_last() -> None:
    m = DeliveryMischief(seed=1)
    ids = [f"event-{i}" for i in range(5000)]
    assert 60 < sum(m.answer_lost(e, 1) for e in ids) < 140  # duplicates and late ones
    for e in ids:
        if m.request_lost(e, 5) and not m.request_lost(e, 6):
            pytest.fail("a request lost at the 5th attempt must be one lost every time")
    assert 20 < sum(m.request_lost(e, 6) for e in ids) < 80  # fail for good: exported


def test_an_unknown_fault_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known faults: listener-down"):
        parse_faults(["listener-up"])


def test_the_last_change_is_older_than_parity_min_age() -> None:
    start = stream_start(timedelta(hours=1), NOW, timedelta(minutes=15))
    assert NOW - (start + timedelta(hours=1)) >= timedelta(minutes=15)


def test_only_the_rehearsal_loopback_endpoint_becomes_a_warning() -> None:
    url = "http://127.0.0.1:4242/v3"
    ours = Check("endpoint", "fail", f"{url} is not HTTPS: ...")
    other = Check("endpoint", "fail", "http://10.0.0.1/v3 is not HTTPS: ...")
    parity = Check("parity", "fail", "parity 0.95 < 0.999")
    fixed = loopback_endpoint(Verdict((ours, parity)), url)
    assert [c.status for c in fixed.checks] == ["warn", "fail"]
    assert "against your tenant this check fails" in fixed.checks[0].detail
    assert loopback_endpoint(Verdict((other,)), url).checks[0].status == "fail"
    assert loopback_endpoint(Verdict((ours,)), url).ready
