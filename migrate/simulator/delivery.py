"""The simulator delivers: a thin HTTP layer over the pure schedule (:mod:`.schedule`).

:class:`DeliveryEngine` takes from the world what is due now, POSTs each token
(``Content-Type: application/secevent+jwt``) with bounded concurrency and a per-request
timeout, and records every answer at the time its attempt was made. :meth:`run_until_quiescent`
compresses time: whenever nothing is due it moves the simulator's clock straight to the next
due attempt, so a day of retries takes as long as the HTTP exchanges themselves, while every
timestamp (``/history``, ``updatedAt``, ``/summary``) stays consistent with the schedule.
:meth:`start` runs it in the background instead, on whatever the clock says.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from migrate.api.clock import ManualClock, OffsetClock
from migrate.simulator.events import Delivery, EventsMixin
from migrate.simulator.sender import post

SET_CONTENT_TYPE = "application/secevent+jwt"
log = logging.getLogger("migrate.simulator.delivery")


@dataclass(frozen=True, slots=True)
class RunReport:
    attempts: int  # HTTP requests made
    started_at: datetime  # by the simulator's clock
    ended_at: datetime
    quiescent: bool  # nothing left to send (False: stopped at ``until``)


class DeliveryEngine:
    def __init__(
        self,
        world: EventsMixin,
        *,
        concurrency: int = 8,
        timeout: float = 10.0,
        lose_answer: Callable[[Delivery], bool] | None = None,
        lose_request: Callable[[Delivery], bool] | None = None,
    ) -> None:
        """``lose_answer`` says which answers never make it back (the listener got the token,
        the sender saw a timeout): those events are sent again, which is how duplicates
        happen in real life. ``lose_request`` says which requests never reach the endpoint
        (a network failure on the way): a failed attempt the listener never saw."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.world = world
        self.timeout = timeout
        self.concurrency = concurrency
        self.lose_answer = lose_answer
        self.lose_request = lose_request
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="sim-delivery")
        self._count_lock = threading.Lock()
        self.attempts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._step_lock = threading.Lock()

    def _send(self, delivery: Delivery) -> None:
        at = self.world.clock.now()
        status: int | None = None
        try:
            if self.lose_request is not None and self.lose_request(delivery):
                return
            status = post(
                delivery.endpoint,
                delivery.token.encode("ascii"),
                SET_CONTENT_TYPE,
                timeout=self.timeout,
            )
            if self.lose_answer is not None and self.lose_answer(delivery):
                status = None
        finally:  # whatever happened, the attempt is on record and the event off the wire
            self.world.record_attempt(delivery.event_id, status, at)
            with self._count_lock:
                self.attempts += 1

    def step(self) -> int:
        """Send everything due now and wait for every answer; how many attempts were made."""
        with self._step_lock:
            batch = self.world.claim_due()
            for future in [self._pool.submit(self._send, d) for d in batch]:
                future.result()
            return len(batch)

    def run_until_quiescent(self, *, until: datetime | None = None) -> RunReport:
        """Deliver until nothing is scheduled (every event delivered or failed), or until the
        clock reaches ``until``; the clock jumps over the waits between attempts."""
        clock = self.world.clock
        if not isinstance(clock, ManualClock | OffsetClock):
            raise TypeError("compressed delivery needs a clock that can be moved forward")
        started, before = clock.now(), self.attempts
        while True:
            self.step()
            due = self.world.next_due()
            now = clock.now()
            if due is None and self.world.in_flight():
                with self._step_lock:  # a background step is still sending: let it finish
                    continue
            if due is None:
                return RunReport(self.attempts - before, started, now, True)
            if until is not None and due > until:
                if now < until:
                    clock.advance((until - now).total_seconds())
                return RunReport(self.attempts - before, started, clock.now(), False)
            if due > now:
                clock.advance((due - now).total_seconds())

    # -- background ---------------------------------------------------------------------------

    def start(self, *, poll: float = 0.05) -> DeliveryEngine:
        """Deliver in a thread, by the clock as it goes (real time, or moved by hand)."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception:  # a bug: say so, and keep delivering the rest
                    log.exception("delivery step failed")
                self._stop.wait(poll)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="sim-delivery-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> DeliveryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
