"""The v2 sender: one callback URL per kind, arrays carrying the callback hash, 3 retries,
a bounded wait per request (real HTTP to a small receiver, simulated clock for the pauses)."""

from __future__ import annotations

import json
import time
from collections import Counter
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from sim_receiver import Received, receiver

from adapters.unified import UnifiedEvent
from adapters.v2 import event_from_v2
from migrate.api.clock import ManualClock
from migrate.simulator import V2Sender, V2Webhook, generate_changes, plan_v2

HASH = "1234567891234567891234567891234567891234"
CLIENT = "98765432198765432198765432198765"
WEBHOOK = V2Webhook.for_listener("http://127.0.0.1:9/", HASH, CLIENT)


def test_the_plan_sends_each_kind_to_its_own_callback_in_arrays() -> None:
    changes = generate_changes(200, seed=11)
    plan = plan_v2(changes, WEBHOOK, batch=5)
    assert {p.kind: p.url for p in plan} == {
        "ADD": "http://127.0.0.1:9/v2/add",
        "UPDATE": "http://127.0.0.1:9/v2/update",
        "DELETE": "http://127.0.0.1:9/v2/delete",
    }
    assert all(1 <= len(p.notifications) <= 5 for p in plan)
    sent = [n for p in plan for n in p.notifications]
    assert sent == [c.v2_notification(HASH, CLIENT) for c in changes]  # all, once, in order
    for item in plan:
        body = json.loads(item.body())
        assert isinstance(body, list)
        for note in body:
            assert set(note) == {"uuid", "entity_type", "datetime", "hash", "client_id"}
            event = event_from_v2(note, kind=item.kind, expected_hash=HASH)
            assert isinstance(event, UnifiedEvent)
    assert len(plan_v2(changes, WEBHOOK)) == len(changes)  # one per array by default


def test_every_post_is_retried_three_times_then_given_up() -> None:
    clock = ManualClock()
    seen: Counter[str] = Counter()

    def answer(req: Received) -> tuple[int, float]:
        seen[req.path] += 1
        # Updates always fail; the others succeed on their second attempt.
        return (500, 0.0) if req.path == "/v2/update" or seen[req.path] % 2 else (200, 0.0)

    changes = [c for c in generate_changes(40, seed=2) if c.kind != "DELETE"]
    first_add = next(c for c in changes if c.kind == "ADD")
    first_update = next(c for c in changes if c.kind == "UPDATE")
    with receiver(answer) as rec:
        plan = plan_v2([first_add, first_update], V2Webhook.for_listener(rec.url, HASH, CLIENT))
        report = V2Sender(clock=clock, concurrency=1, retry_delay=2.0).send(plan)
    add, update = report.results
    assert [s for _, s in add.attempts] == [500, 200]
    assert add.delivered
    assert [s for _, s in update.attempts] == [500] * 4  # the first attempt and 3 retries
    assert not update.delivered
    assert [(at - update.attempts[0][0]).total_seconds() for at, _ in update.attempts] == [
        0.0,
        2.0,
        4.0,
        6.0,
    ]
    assert report.counts == {
        "posts": 2,
        "notifications": 2,
        "delivered_posts": 1,
        "delivered_notifications": 1,
        "failed_posts": 1,
        "attempts": 6,
    }
    assert {r.content_type for r in rec.received} == {"application/json"}


def test_a_slow_listener_is_a_failed_attempt_after_the_timeout() -> None:
    assert V2Sender().timeout == 10.0  # the documented v2 timeout, by default
    assert V2Sender().retries == 3
    calls = Counter[str]()

    def answer(req: Received) -> tuple[int, float]:
        calls["n"] += 1
        return (200, 1.5) if calls["n"] == 1 else (200, 0.0)

    with receiver(answer) as rec:
        plan = plan_v2(generate_changes(1, seed=0), V2Webhook.for_listener(rec.url, HASH, CLIENT))
        started = time.monotonic()
        report = V2Sender(clock=ManualClock(), timeout=0.2).send(plan)
        elapsed = time.monotonic() - started
    (result,) = report.results
    assert [s for _, s in result.attempts] == [None, 200]  # the slow answer did not count
    assert result.delivered
    assert elapsed < 1.0  # the sender did not wait for the slow answer to decide
    assert len(rec.received) == 2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 120), seed=st.integers(0, 99), batch=st.integers(1, 12))
def test_any_plan_carries_every_change_once_to_the_callback_of_its_kind(
    n: int, seed: int, batch: int
) -> None:
    changes = generate_changes(n, seed=seed)
    plan = plan_v2(changes, WEBHOOK, batch=batch)
    assert [n for p in plan for n in p.notifications] == [
        c.v2_notification(HASH, CLIENT) for c in changes
    ]
    kinds = iter(changes)
    for item in plan:
        assert 1 <= len(item.notifications) <= batch
        assert item.url == WEBHOOK.callbacks[item.kind]
        assert {next(kinds).kind for _ in item.notifications} == {item.kind}
    # A new array starts only when the kind changes or the array is full.
    for first, second in pairwise(plan):
        assert first.kind != second.kind or len(first.notifications) == batch
