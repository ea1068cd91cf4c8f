"""The simulator's state and the passing of time; the operations live in mixins on top.

:class:`WorldBase` holds everything the simulated Identity Cloud knows, behind one lock, and
applies lazily what time has done (an export finishing, a file or an event reaching 7 days)
whenever the state is next looked at. Time comes from a :class:`~migrate.api.clock.Clock`.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from migrate.api.clock import Clock
from migrate.simulator.keys import SigningKey
from migrate.simulator.model import RETENTION, SimConfig, SimEvent, SimExport, SimSubscription


class WorldBase:
    """Everything the simulated API knows; thread-safe (one lock, held briefly)."""

    def __init__(self, config: SimConfig, clock: Clock, key: SigningKey | None = None) -> None:
        self.config = config
        self.clock = clock
        self.key = key or SigningKey()
        self.public_url = "http://127.0.0.1"
        self.lock = threading.RLock()
        self.subscriptions: dict[str, SimSubscription] = {}
        self.events: dict[str, SimEvent] = {}  # in the order they were created
        self.scheduled: dict[str, SimEvent] = {}  # the events with a next attempt due
        self.exports: dict[str, SimExport] = {}
        self._summaries: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self.issued_tokens: list[str] = []  # so tests can prove none of them leaks
        self._rng = random.Random(config.seed)

    def new_id(self) -> str:
        """A random-looking UUID, reproducible from the configured seed."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- links ------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return "/" + self.config.customer_id

    def sub_href(self, sid: str) -> str:
        return f"{self.root}/webhooks/subscriptions/{sid}"

    def export_href(self, job: SimExport) -> str:
        return f"{self.sub_href(job.subscription_id)}/{self.config.export_path}/{job.id}"

    def event_href(self, event: SimEvent) -> str:
        return f"{self.sub_href(event.subscription_id)}/events/{event.id}"

    # -- time -------------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """Apply everything that time has done since the last look; return now."""
        now = self.clock.now()
        for job in list(self.exports.values()):
            if job.state == self.config.active_state and now >= job.finish_at:
                self._complete(job, job.finish_at)
            if job.completed_at is not None and now >= job.completed_at + RETENTION:
                job.content = None  # the file is gone from the bucket
            grace = timedelta(seconds=self.config.job_record_grace_seconds)
            if now >= (job.completed_at or job.created_at) + RETENTION + grace:
                del self.exports[job.id]
        # Events were added oldest first: the expired ones are at the front (looking stops at
        # the first live one, without copying the whole list on every look).
        expired = []
        for event in self.events.values():
            if now < event.created_at + RETENTION:
                break
            expired.append(event.id)
        for event_id in expired:
            del self.events[event_id]
            self.scheduled.pop(event_id, None)
        return now

    def _complete(self, job: SimExport, when: datetime) -> None:
        lines = [
            json.dumps(self.events[eid].claims, separators=(",", ":")).encode() + b"\n"
            for eid in job.event_ids
            if eid in self.events
        ]
        job.content = b"".join(lines)
        job.etag = '"' + hashlib.sha1(job.content, usedforsecurity=False).hexdigest() + '"'
        job.state = self.config.completed_state
        job.completed_at = job.updated_at = when
