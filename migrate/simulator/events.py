"""Events in the simulated world: publishing signed tokens, delivery attempts, the events store.

Every event is a security event token signed with the simulator's key (``iss``, ``iat``,
``jti``, ``aud``, ``txn``, ``toe``, ``events``, as in the docs). Its delivery follows
:mod:`.schedule`: the engine (:mod:`.delivery`) takes what is due with :meth:`claim_due` and
reports each answer with :meth:`record_attempt`; ``/events``, ``/history``, ``/summary`` and the
exports read the same records. Where the docs are silent: ``/history`` answers
``{"_embedded": {"history": [{"attempt", "createdAt", "statusCode"}]}}`` (``statusCode`` null
for a timeout or a refused connection), and a redelivery starts a new round of 6 attempts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.timefmt import format_us
from migrate.api.subscriptions import matches
from migrate.simulator.base import WorldBase
from migrate.simulator.changes import Change
from migrate.simulator.keys import SigningKey
from migrate.simulator.model import (
    FAILURE,
    NOT_FOUND,
    RETRYING,
    SUCCESS,
    Reply,
    SimEvent,
    page,
    problem,
)
from migrate.simulator.schedule import after_attempt, due_events, next_due


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to make: POST ``token`` to ``endpoint``."""

    event_id: str
    endpoint: str
    token: str
    attempt: int  # 1-based, over the event's whole life (as /history numbers them)


class EventsMixin(WorldBase):
    # -- publishing -------------------------------------------------------------------------

    def publish(
        self,
        claims_events: dict[str, Any],
        *,
        sid: str | None = None,
        toe: int | None = None,
        key: SigningKey | None = None,
    ) -> list[str]:
        """An Identity Cloud event happened: queue it for every subscription it passes.

        ``claims_events`` is the ``events`` claim, e.g. ``{"entityUpdated": {...}}``; ``toe``
        when it occurred (epoch seconds; default now). ``sid`` forces one subscription,
        bypassing its filter and enabled flag (for seeding). ``key`` signs with another key
        than the published one (a forgery, for rehearsing). The first attempt is due now.
        """
        with self.lock:
            now = self._tick()
            ids = []
            targets = [self.subscriptions[sid]] if sid else list(self.subscriptions.values())
            for sub in targets:
                body = {"events": sub.events, "filter": sub.filter}
                if sid is None and not (sub.enabled and matches(body, {"events": claims_events})):
                    continue
                claims = {
                    "iss": f"{self.public_url}{self.root}/webhooks",
                    "iat": int(now.timestamp()),
                    "jti": self.new_id(),
                    "aud": [sub.endpoint],
                    "txn": self.new_id(),
                    "toe": int(now.timestamp()) if toe is None else toe,
                    "events": claims_events,
                }
                jku = f"{self.public_url}{self.root}/login/jwk"
                token = (key or self.key).sign(claims, {"typ": "secevent+jwt", "jku": jku})
                event = SimEvent(
                    id=self.new_id(),
                    subscription_id=sub.id,
                    claims=claims,
                    token=token,
                    endpoint=sub.endpoint,
                    created_at=now,
                    updated_at=now,
                    due=now,
                )
                self.events[event.id] = self.scheduled[event.id] = event
                ids.append(event.id)
            return ids

    def feed(
        self,
        changes: Iterable[Change],
        *,
        sid: str | None = None,
        toe_offset: int = 0,
        key: SigningKey | None = None,
    ) -> list[str]:
        """One event per change (and per subscription it passes), ``toe`` its occurred time
        (shifted by ``toe_offset`` seconds to rehearse a skewed clock; ``key`` as for
        :meth:`publish`)."""
        ids: list[str] = []
        app, client = self.config.application_id, self.config.capture_client_id
        for change in changes:
            claims_events = change.v3_events(app, client)
            ids += self.publish(claims_events, sid=sid, toe=change.toe + toe_offset, key=key)
        return ids

    def sample_event(self, event_type: str) -> dict[str, Any]:
        """A realistic ``events`` claim for the simulated application."""
        entity = self.new_id()
        app = self.config.application_id
        body: dict[str, Any] = {
            "captureApplicationId": app,
            "captureClientId": self.config.capture_client_id,
            "entityType": "user",
            "globalSub": f"capture-v1://sim.janraincapture.com/{app}/user/{entity}",
            "sub": entity,
            "id": self.new_id(),
        }
        if event_type == "entityUpdated":
            body["attributes"] = [self._rng.choice(["email", "givenName", "familyName"])]
        return {event_type: body}

    # -- delivery attempts ------------------------------------------------------------------

    def claim_due(self) -> list[Delivery]:
        """What is due now, marked as on the wire (to the subscription's current endpoint)."""
        with self.lock:
            now = self._tick()
            chosen = due_events(self.scheduled.values(), self.subscriptions, now)
            out = []
            for event in chosen:
                event.in_flight = True
                event.endpoint = self.subscriptions[event.subscription_id].endpoint
                out.append(Delivery(event.id, event.endpoint, event.token, event.attempts + 1))
            return out

    def next_due(self) -> datetime | None:
        with self.lock:
            self._tick()
            return next_due(self.scheduled.values(), self.subscriptions)

    def in_flight(self) -> int:
        with self.lock:
            return sum(1 for e in self.scheduled.values() if e.in_flight)

    def record_attempt(self, event_id: str, status_code: int | None, at: datetime) -> None:
        """An attempt made at ``at`` was answered ``status_code`` (None: timeout, no
        connection). An event gone meanwhile (7 days old) is ignored."""
        with self.lock:
            event = self.events.get(event_id)
            if event is None:
                return
            event.in_flight = False
            event.attempts += 1
            event.round_attempts += 1
            event.status_code = status_code
            event.updated_at = at
            event.history.append(
                {"attempt": event.attempts, "createdAt": format_us(at), "statusCode": status_code}
            )
            outcome = after_attempt(
                event.round_attempts,
                status_code,
                at,
                self.config.retry_delays,
                self.config.max_attempts,
            )
            event.state, event.due = outcome.state, outcome.due
            if event.due is None:
                self.scheduled.pop(event.id, None)

    def attempt(self, event_id: str, *, delivered: bool, status_code: int | None = None) -> None:
        """One attempt now with a made-up answer; the sixth failure makes the event ``failure``."""
        code = status_code or (200 if delivered else 503)
        if delivered != (200 <= code < 300):
            raise ValueError(f"status {code} contradicts delivered={delivered}")
        with self.lock:
            self.record_attempt(event_id, code, self._tick())

    def seed(
        self, sid: str, *, succeeded: int = 0, retrying: int = 0, failed: int = 0
    ) -> list[str]:
        """Events in each final state, with the attempts that led there. They are history:
        nothing is scheduled for them (the engine never sends them unless redelivered)."""
        sub = self.subscriptions[sid]
        ids: list[str] = []
        plan = [(True, 1)] * succeeded + [(False, 2)] * retrying
        plan += [(False, self.config.max_attempts)] * failed
        for n, (delivered, tries) in enumerate(plan):
            (event_id,) = self.publish(self.sample_event(sub.events[n % len(sub.events)]), sid=sid)
            for attempt in range(tries):
                self.attempt(event_id, delivered=delivered and attempt == tries - 1)
            with self.lock:
                self.events[event_id].due = None
                self.scheduled.pop(event_id, None)
            ids.append(event_id)
        return ids

    # -- the events store -------------------------------------------------------------------

    def event_json(self, event: SimEvent) -> dict[str, Any]:
        href = self.event_href(event)
        return {
            "id": event.id,
            "createdAt": format_us(event.created_at),
            "updatedAt": format_us(event.updated_at),
            "state": event.state,
            "attempts": event.attempts,
            "request": {
                "endpoint": event.endpoint,
                "headers": {"Content-Type": "application/secevent+jwt"},
                "payload": event.token,
            },
            "response": {"statusCode": event.status_code, "headers": {}},
            "_links": {
                "self": {"href": href},
                "redeliver": {"href": href + "/redeliver"},
                "history": {"href": href + "/history"},
            },
            "eventType": event.event_type,
        }

    def list_events(self, sid: str, *, state: str | None, offset: int, limit: int | None) -> Reply:
        with self.lock:
            self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            chosen = [
                e
                for e in sorted(self.events.values(), key=lambda e: (e.created_at, e.id))
                if e.subscription_id == sid and (state is None or e.state == state)
            ]
            size = max(1, min(limit or self.config.page_size, self.config.page_size))
            window = chosen[offset : offset + size]
            base = f"{self.sub_href(sid)}/events?" + (f"state={state}&" if state else "")
            links = {"self": {"href": f"{base}offset={offset}&limit={size}"}}
            if offset + size < len(chosen):
                links["next"] = {"href": f"{base}offset={offset + size}&limit={size}"}
            return Reply(
                200,
                {
                    "total": len(chosen),
                    "_embedded": {"events": [self.event_json(e) for e in window]},
                    "_links": links,
                },
            )

    def _event(self, sid: str, eid: str) -> SimEvent | None:
        self._tick()
        event = self.events.get(eid)
        return event if event is not None and event.subscription_id == sid else None

    def get_event(self, sid: str, eid: str) -> Reply:
        with self.lock:
            event = self._event(sid, eid)
            return Reply(200, self.event_json(event)) if event else NOT_FOUND

    def event_history(self, sid: str, eid: str) -> Reply:
        with self.lock:
            event = self._event(sid, eid)
            if event is None:
                return NOT_FOUND
            return Reply(
                200, page(list(event.history), "history", self.event_href(event) + "/history")
            )

    def redeliver(self, sid: str, eid: str) -> Reply:
        """A failed event gets a new round of attempts, the first due now (the engine sends it)."""
        with self.lock:
            event = self._event(sid, eid)
            if event is None:
                return NOT_FOUND
            if event.state != FAILURE:
                return problem(
                    409,
                    "Conflict",
                    f"only failed events can be redelivered (state is {event.state})",
                )
            event.state = RETRYING
            event.round_attempts = 0
            event.updated_at = event.due = self.clock.now()
            self.scheduled[event.id] = event
            return Reply(202, self.event_json(event))

    # -- summary ----------------------------------------------------------------------------

    def counts(self, sid: str) -> dict[str, int]:
        """The summary's numbers as they are now (``/summary`` refreshes at most daily)."""
        with self.lock:
            self._tick()
            mine = [e for e in self.events.values() if e.subscription_id == sid]
            states = {s: sum(1 for e in mine if e.state == s) for s in (SUCCESS, RETRYING, FAILURE)}
            return {
                "total": len(mine),
                "succeeded": states[SUCCESS],
                "retrying": states[RETRYING],
                "failed": states[FAILURE],
                "exportable": sum(1 for e in mine if e.state == FAILURE and e.exported_by is None),
                "attempts": sum(e.attempts for e in mine),
            }

    def summary(self, sid: str) -> Reply:
        with self.lock:
            now = self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            cached = self._summaries.get(sid)
            refresh = timedelta(seconds=self.config.summary_refresh_seconds)
            if cached is None or now - cached[0] >= refresh:
                counts = self.counts(sid)
                del counts["attempts"]
                cached = (now, {"updatedAt": format_us(now), **counts})
                self._summaries[sid] = cached
            return Reply(200, dict(cached[1]))

    def override_summary(self, sid: str, **counts: int) -> None:
        """Make the next summaries say something else (e.g. break an invariant on purpose)."""
        with self.lock:
            self.summary(sid)
            when, data = self._summaries[sid]
            self._summaries[sid] = (when, {**data, **counts})
