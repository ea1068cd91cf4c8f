"""Running the dual stream: the plan's points in time order against the simulator and listener.

Before each point the delivery engine runs up to that time (retries due meanwhile are sent;
the clock jumps over the waits); then the point happens: a chunk of changes is published as v3
events (the engine makes their first attempts at once) and posted as v2 notifications (the v2
sender, 3 retries), or the listener goes down or comes back. At the end the engine runs until
nothing is left to send: every event delivered, or failed after 6 attempts.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from migrate.api.clock import ManualClock
from migrate.rehearse.faults import DeliveryMischief
from migrate.rehearse.listener import Listener
from migrate.rehearse.plan import Chunk, StreamPlan, Switch, v2_duplicated
from migrate.simulator import (
    Change,
    SigningKey,
    Simulator,
    V2Post,
    V2Report,
    V2Sender,
    V2Webhook,
    plan_v2,
)

V2_BATCH = 5
"""Notifications in one v2 array at most (v2 sends arrays; a change of another kind ends one)."""


@dataclass
class StreamStats:
    changes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    v3_published: int = 0
    v3_forged: int = 0
    v3_skipped: int = 0
    v2_posts: int = 0
    v2_duplicate_posts: int = 0
    v2_notifications: int = 0
    v2_delivered: int = 0
    v2_attempts: int = 0
    listener_restarts: int = 0
    event_ids: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds by phase: where a rehearsal's time goes."""

    @property
    def v2_lost(self) -> int:
        return self.v2_notifications - self.v2_delivered

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "kinds": dict(self.kinds),
            "v3_published": self.v3_published,
            "v3_forged": self.v3_forged,
            "v3_skipped": self.v3_skipped,
            "v2_posts": self.v2_posts,
            "v2_duplicate_posts": self.v2_duplicate_posts,
            "v2_notifications": self.v2_notifications,
            "v2_delivered": self.v2_delivered,
            "v2_lost": self.v2_lost,
            "v2_attempts": self.v2_attempts,
            "listener_restarts": self.listener_restarts,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


@dataclass
class DualStream:
    sim: Simulator
    clock: ManualClock
    listener: Listener
    plan: StreamPlan
    webhook: V2Webhook
    rogue: SigningKey | None
    seed: int
    on_progress: Callable[[int, int], None] = lambda done, total: None
    stats: StreamStats = field(default_factory=StreamStats)
    _v2_posts_made: int = 0

    def run(self, total: int) -> StreamStats:
        mischief = DeliveryMischief(self.seed)
        engine = self.sim.engine
        engine.lose_answer = lambda d: mischief.answer_lost(d.event_id, d.attempt)
        engine.lose_request = lambda d: mischief.request_lost(d.event_id, d.attempt)
        for point in self.plan.points:
            with self._timed("v3 retries"):
                engine.run_until_quiescent(until=point.at)
            ahead = (point.at - self.clock.now()).total_seconds()
            if ahead > 0:
                self.clock.advance(ahead)
            if isinstance(point, Switch):
                with self._timed("listener restarts"):
                    self._switch(point)
            else:
                self._publish(point)
                self.on_progress(self.stats.changes, total)
        with self._timed("v3 retries"):
            engine.run_until_quiescent()
        return self.stats

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.stats.seconds[phase] = self.stats.seconds.get(phase, 0.0) + spent

    def _switch(self, point: Switch) -> None:
        if point.up and not self.listener.running:
            self.listener.start()
            self.stats.listener_restarts += 1
        elif not point.up:
            self.listener.stop()

    def _publish(self, chunk: Chunk) -> None:
        plan, world = self.plan, self.sim.world
        good: list[Change] = []
        forged: list[Change] = []
        for change in chunk.changes:
            self.stats.changes += 1
            self.stats.kinds[change.kind] += 1
            if change.index in plan.v3_skipped:
                self.stats.v3_skipped += 1
            elif change.index in plan.forged:
                forged.append(change)
            else:
                good.append(change)
        with self._timed("v3 signing"):
            ids = world.feed(good, toe_offset=plan.toe_offset)
            if forged:
                ids += world.feed(forged, toe_offset=plan.toe_offset, key=self.rogue)
                self.stats.v3_forged += len(forged)
        self.stats.v3_published += len(ids)
        self.stats.event_ids += ids
        with self._timed("v3 first attempts"):
            self.sim.engine.step()
        with self._timed("v2 posts"):
            self._send_v2(chunk)

    def _send_v2(self, chunk: Chunk) -> None:
        posts: list[V2Post] = []
        for post in plan_v2(chunk.changes, self.webhook, batch=V2_BATCH):
            posts.append(post)
            self._v2_posts_made += 1
            if v2_duplicated(self.seed, self._v2_posts_made):
                posts.append(post)  # its answer was lost: v2 sends it again
                self.stats.v2_duplicate_posts += 1
        # The v2 sender's waits between retries run on a clock of its own: free, and they do
        # not move the simulator's.
        sender = V2Sender(clock=ManualClock(self.clock.now()), retries=3, timeout=10.0)
        report: V2Report = sender.send(posts)
        delivered = {id(r.post) for r in report.results if r.delivered}
        unique = {id(p): p for p in posts}
        self.stats.v2_posts += len(posts)
        self.stats.v2_attempts += sum(len(r.attempts) for r in report.results)
        self.stats.v2_notifications += sum(len(p.notifications) for p in unique.values())
        self.stats.v2_delivered += sum(
            len(p.notifications) for key, p in unique.items() if key in delivered
        )
