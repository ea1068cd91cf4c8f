"""The simulator delivers: the schedule, the end of retries, timeouts, filters, and the truth
that /events, /history, /summary and the exports then tell (simulated clock, real HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_receiver import Answer, Received, Receiver, receiver
from test_api_support import Rig, make_rig

from adapters.set_token import event_from_token
from adapters.timefmt import parse_rfc3339
from migrate.api import events, exports
from migrate.api.clock import ManualClock
from migrate.simulator import DeliveryEngine, SimConfig, SimWorld, generate_changes
from migrate.simulator.schedule import after_attempt, schedule_offsets

START = datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
OFFSETS = [0.0, 3.0, 33.0, 333.0, 3933.0, 90333.0]  # 3 s, 30 s, 5 min, 1 h, 24 h apart
TIMEOUT = 0.25
HANG = "hang"


def scripted(world: SimWorld, script: dict[str, list[int | str]]) -> Answer:
    """Each event's answers in turn (the last one repeats); ``"hang"`` outlasts the timeout."""
    tokens = {world.events[eid].token.encode(): eid for eid in script}
    seen: Counter[str] = Counter()

    def answer(req: Received) -> tuple[int, float]:
        eid = tokens[req.body]
        steps = script[eid]
        step = steps[min(seen[eid], len(steps) - 1)]
        seen[eid] += 1
        return (202, TIMEOUT + 0.3) if step == HANG else (int(step), 0.0)

    return answer


def offsets(world: SimWorld, eid: str) -> list[float]:
    history = world.events[eid].history
    first = parse_rfc3339(history[0]["createdAt"])
    return [(parse_rfc3339(h["createdAt"]) - first).total_seconds() for h in history]


@pytest.fixture
def rec() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def world_for(rec: Receiver, **sub: object) -> SimWorld:
    world = SimWorld(SimConfig(), ManualClock(START))
    world.add_subscription(endpoint=rec.url + "/v3", **sub)  # type: ignore[arg-type]
    return world


def publish(world: SimWorld, event_type: str = "entityCreated") -> str:
    (eid,) = world.publish(world.sample_event(event_type))
    return eid


def test_the_schedule_is_pure_and_documented() -> None:
    delays = SimConfig().retry_delays
    assert schedule_offsets(delays, 6) == OFFSETS
    assert after_attempt(1, 204, START, delays, 6).state == "success"
    assert after_attempt(1, 204, START, delays, 6).due is None
    retry = after_attempt(2, 500, START, delays, 6)
    assert (retry.state, (retry.due - START).total_seconds()) == ("retrying", 30.0)  # type: ignore[operator]
    assert after_attempt(6, None, START, delays, 6).state == "failure"


def test_every_failure_follows_the_schedule_then_the_event_fails(rec: Receiver) -> None:
    world = world_for(rec)
    rec.clock = world.clock
    eid = publish(world)
    rec.answer = lambda r: (503, 0.0)
    with DeliveryEngine(world, timeout=TIMEOUT) as engine:
        started = time.monotonic()
        report = engine.run_until_quiescent()
        assert time.monotonic() - started < 5  # 25 simulated hours, compressed
    event = world.events[eid]
    assert (event.state, event.attempts, report.attempts, report.quiescent) == (
        "failure",
        6,
        6,
        True,
    )
    assert offsets(world, eid) == OFFSETS
    assert [h["statusCode"] for h in event.history] == [503] * 6
    # The receiver saw the same six attempts, at the same simulated times, carrying the token.
    assert [(r.at - START).total_seconds() for r in rec.received] == OFFSETS  # type: ignore[operator]
    assert {r.content_type for r in rec.received} == {"application/secevent+jwt"}
    assert {r.body for r in rec.received} == {event.token.encode()}
    assert (report.ended_at - START).total_seconds() == OFFSETS[-1]
    # Nothing more is ever sent, however long the clock runs.
    world.clock.advance(7 * 86400 - 1)  # type: ignore[attr-defined]
    assert DeliveryEngine(world).run_until_quiescent().attempts == 0


def test_a_2xx_is_never_retried_and_a_timeout_is_a_failure(rec: Receiver) -> None:
    world = world_for(rec)
    first, second, third = publish(world), publish(world), publish(world)
    rec.answer = scripted(world, {first: [204], second: [HANG, 500, 200], third: [HANG]})
    with DeliveryEngine(world, timeout=TIMEOUT, concurrency=3) as engine:
        engine.run_until_quiescent()
    codes = {eid: [h["statusCode"] for h in world.events[eid].history] for eid in world.events}
    assert codes == {first: [204], second: [None, 500, 200], third: [None] * 6}
    assert [world.events[e].state for e in (first, second, third)] == [
        "success",
        "success",
        "failure",
    ]
    assert offsets(world, second) == OFFSETS[:3]
    assert world.events[third].status_code is None  # the record says there was no answer
    assert len(rec.received) == 1 + 3 + 6


def test_an_endpoint_that_refuses_connections_gets_six_attempts(rec: Receiver) -> None:
    with receiver() as gone:
        closed_url = gone.url
    world = SimWorld(SimConfig(), ManualClock(START))
    world.add_subscription(endpoint=closed_url + "/v3")
    eid = publish(world)
    DeliveryEngine(world, timeout=TIMEOUT).run_until_quiescent()
    assert [h["statusCode"] for h in world.events[eid].history] == [None] * 6
    assert world.events[eid].state == "failure"


def test_filters_and_the_enabled_flag_are_honoured(rec: Receiver) -> None:
    world = world_for(
        rec,
        events=["entityUpdated"],
        filter={
            "properties": {
                "entityUpdated": {"properties": {"attributes": {"contains": {"const": "email"}}}}
            }
        },
    )
    changes = generate_changes(60, seed=3)
    ids = world.feed(changes)
    expected = [c for c in changes if c.kind == "UPDATE" and "email" in c.attributes]
    assert 0 < len(ids) == len(expected) < len(changes)
    DeliveryEngine(world, timeout=TIMEOUT).run_until_quiescent()
    delivered = [event_from_token(b.decode()) for b in rec.bodies()]
    assert sorted(e.entity_id for e in delivered) == sorted(c.entity_id for c in expected)  # type: ignore[misc]
    (sub,) = world.subscriptions.values()
    sub.enabled = False
    assert world.feed(expected) == []  # a disabled subscription is not given events


def test_a_disabled_subscription_holds_its_retries_until_enabled(rec: Receiver) -> None:
    world = world_for(rec)
    eid = publish(world)
    rec.answer = scripted(world, {eid: [500, 200]})
    engine = DeliveryEngine(world, timeout=TIMEOUT)
    engine.step()
    (sub,) = world.subscriptions.values()
    sub.enabled = False
    assert engine.run_until_quiescent().attempts == 0
    assert world.events[eid].state == "retrying"
    world.clock.advance(3600)  # type: ignore[attr-defined]
    sub.enabled = True
    engine.run_until_quiescent()
    engine.close()
    assert [h["statusCode"] for h in world.events[eid].history] == [500, 200]
    assert offsets(world, eid) == [0.0, 3600.0]  # sent when enabled again, not at 3 s


def test_concurrency_is_bounded(rec: Receiver) -> None:
    world = world_for(rec)
    for _ in range(12):
        publish(world)
    rec.answer = lambda r: (202, 0.05)
    with DeliveryEngine(world, timeout=2.0, concurrency=3) as engine:
        assert engine.run_until_quiescent().attempts == 12
    assert 2 <= rec.max_active <= 3


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path, succeeded=0, retrying=0, failed=0) as rig:
        yield rig


def test_the_api_tells_the_truth_after_deliveries(rig: Rig, rec: Receiver) -> None:
    world = rig.sim.world
    sub = world.subscriptions[rig.sid]
    sub.endpoint = rec.url + "/v3"
    ids = world.feed(generate_changes(9, seed=5), sid=rig.sid)
    ok, retrying, failing = ids[:5], ids[5:7], ids[7:]
    rec.answer = scripted(
        world, {**{e: [200] for e in ok}, **{e: [500] for e in retrying + failing}}
    )
    # Stop after 1 h (4 attempts made): four events are caught mid-schedule; two of them are
    # then delivered, two fail.
    stopped = rig.sim.engine.run_until_quiescent(until=rig.clock.now() + timedelta(hours=1))
    assert not stopped.quiescent
    assert world.counts(rig.sid)["retrying"] == 4
    rec.answer = scripted(world, {**{e: [200] for e in retrying}, **{e: [500] for e in failing}})
    rig.sim.engine.run_until_quiescent()
    client = rig.client()
    summary = events.get_summary(client, rig.sid)
    assert (summary.total, summary.succeeded, summary.retrying, summary.failed) == (9, 7, 0, 2)
    assert summary.total == summary.succeeded + summary.retrying + summary.failed
    assert summary.exportable == 2
    record = events.get_event(client, rig.sid, failing[0])
    assert (record.state, record.attempts) == ("failure", 6)
    assert record.raw["response"]["statusCode"] == 500
    history = events.event_history(client, rig.sid, failing[0])
    assert [h["attempt"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert [h["statusCode"] for h in events.event_history(client, rig.sid, retrying[0])] == [
        500,
        500,
        500,
        500,
        200,
    ]
    # The failed ones, and only they, are in the bulk export.
    job = exports.start_export(client, rig.sid)
    rig.clock.advance(rig.sim.config.export_seconds)
    target = rig.tmp / "export.ndjson"
    exports.download_export(client, rig.sid, job.id, target)
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(c["jti"] for c in lines) == sorted(world.events[e].claims["jti"] for e in failing)
    assert world.counts(rig.sid)["exportable"] == 0


def test_redelivery_through_the_api_goes_through_the_engine(rig: Rig, rec: Receiver) -> None:
    world = rig.sim.world
    world.subscriptions[rig.sid].endpoint = rec.url + "/v3"
    (eid,) = world.feed(generate_changes(1, seed=2), sid=rig.sid)
    rec.answer = scripted(world, {eid: [500] * 6 + [202]})
    rig.sim.engine.run_until_quiescent()
    assert world.events[eid].state == "failure"
    client = rig.client()
    assert events.redeliver(client, rig.sid, eid)["state"] == "retrying"
    report = rig.sim.engine.run_until_quiescent()
    assert report.attempts == 1
    record = events.get_event(client, rig.sid, eid)
    assert (record.state, record.attempts) == ("success", 7)
    assert record.raw["response"]["statusCode"] == 202
    assert len(rec.received) == 7


def test_the_rehearsal_endpoints_feed_deliver_and_count(rig: Rig, rec: Receiver) -> None:
    rig.sim.world.subscriptions[rig.sid].endpoint = rec.url + "/v3"

    def call(method: str, path: str, body: object = None) -> dict[str, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(rig.sim.base_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.load(resp)  # type: ignore[no-any-return]

    fed = call("POST", "/_sim/changes", {"count": 20, "seed": 4})
    assert len(fed["events"]) == 20  # type: ignore[arg-type]
    done = call("POST", "/_sim/deliver", {})
    assert (done["attempts"], done["quiescent"]) == (20, True)
    counts = call("GET", "/_sim/counts")
    assert (counts["total"], counts["succeeded"]) == (20, 20)
    tokens = [b.decode() for b in rec.bodies()]
    jwks = jwt.PyJWKSet.from_dict(rig.sim.world.key.jwks())
    for token in tokens:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token, jwks[header["kid"]].key, algorithms=["RS256"], audience=rec.url + "/v3"
        )
        assert set(claims) == {"iss", "iat", "jti", "aud", "txn", "toe", "events"}
        assert claims["iss"] == f"{rig.sim.base_url}/{rig.sim.config.customer_id}/webhooks"


# -- properties -----------------------------------------------------------------------------

ANSWERS = st.sampled_from([200, 202, 204, 301, 400, 404, 429, 500, 503])


@pytest.fixture(scope="module")
def shared_rec() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scripts=st.lists(st.lists(ANSWERS, min_size=1, max_size=7), min_size=1, max_size=5))
def test_any_pattern_of_answers_follows_the_schedule_and_adds_up(
    shared_rec: Receiver, scripts: list[list[int]]
) -> None:
    world = world_for(shared_rec)
    ids = [publish(world) for _ in scripts]
    shared_rec.answer = scripted(world, dict(zip(ids, scripts, strict=True)))  # type: ignore[arg-type]
    with DeliveryEngine(world, timeout=2.0, concurrency=4) as engine:
        report = engine.run_until_quiescent()
    total_attempts = 0
    for eid, script in zip(ids, scripts, strict=True):
        padded = (script + [script[-1]] * 6)[:6]
        first_ok = next((n for n, code in enumerate(padded) if 200 <= code < 300), None)
        tries = 6 if first_ok is None else first_ok + 1
        event = world.events[eid]
        assert event.attempts == tries
        assert [h["statusCode"] for h in event.history] == padded[:tries]
        assert offsets(world, eid) == OFFSETS[:tries]
        assert event.state == ("failure" if first_ok is None else "success")
        total_attempts += tries
    assert report.attempts == total_attempts
    (sid,) = world.subscriptions
    counts = world.counts(sid)
    assert counts["total"] == counts["succeeded"] + counts["retrying"] + counts["failed"]
    assert counts["retrying"] == 0
    assert counts["exportable"] == counts["failed"]
    assert counts["attempts"] == total_attempts


def test_the_simulate_command_delivers_fed_changes_in_the_background(
    tmp_path: Path, rec: Receiver
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOKS_MIGRATE_")}
    command = [sys.executable, "-m", "migrate", "simulate", "api", "--port", "0"]
    command += ["--endpoint", rec.url + "/v3", "--succeeded", "0", "--retrying", "0"]
    proc = subprocess.Popen(
        [*command, "--failed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().rsplit(" ", 1)[1].strip()

        def call(method: str, path: str, body: object = None) -> dict[str, object]:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(url + path, data=data, method=method)
            with urllib.request.urlopen(request, timeout=10) as resp:
                return json.load(resp)  # type: ignore[no-any-return]

        call("POST", "/_sim/changes", {"count": 5, "seed": 1})
        deadline = time.monotonic() + 20
        while call("GET", "/_sim/counts")["succeeded"] != 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert call("GET", "/_sim/counts")["succeeded"] == 5  # no /_sim/deliver was needed
        assert len(rec.received) == 5
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_lost_answer_makes_a_duplicate_delivery(rec: Receiver) -> None:
    world = world_for(rec)
    ids = [publish(world) for _ in range(3)]
    with DeliveryEngine(world, timeout=TIMEOUT, lose_answer=lambda d: d.attempt == 1) as engine:
        assert engine.run_until_quiescent().attempts == 6
    for eid in ids:
        assert [h["statusCode"] for h in world.events[eid].history] == [None, 202]
        assert offsets(world, eid) == OFFSETS[:2]
    assert Counter(rec.bodies()) == {world.events[e].token.encode(): 2 for e in ids}


def test_the_rehearsal_endpoints_refuse_bad_requests_in_one_line(rig: Rig) -> None:
    request = urllib.request.Request(
        rig.sim.base_url + "/_sim/changes", data=b'{"count": "many"}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert "many" in json.load(caught.value)["details"]


def test_a_lost_request_never_reaches_the_endpoint_and_counts_as_a_failed_attempt(
    rec: Receiver,
) -> None:
    world = world_for(rec)
    lost, kept = publish(world), publish(world)
    lose = lambda d: d.event_id == lost  # noqa: E731
    with DeliveryEngine(world, timeout=TIMEOUT, lose_request=lose) as engine:
        engine.run_until_quiescent()
    assert [h["statusCode"] for h in world.events[lost].history] == [None] * 6
    assert world.events[lost].state == "failure"
    assert [h["statusCode"] for h in world.events[kept].history] == [202]
    assert rec.bodies() == [world.events[kept].token.encode()]
