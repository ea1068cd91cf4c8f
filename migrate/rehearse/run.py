"""A whole dual-running cutover on this machine, step by step (see ``docs/rehearse.md``).

store → simulator → listener → subscription → stream → recover → (duplicate-export) →
reconcile → parity → checklist. The simulator runs in this process (its HTTP server and its
delivery engine are threads), the listener is the real ``serve`` in a child process; both on
free loopback ports, both stopped before :func:`rehearse` returns or raises, Ctrl-C included.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa

from migrate.api.auth import Credentials, Secret
from migrate.api.client import ApiClient, ApiSettings
from migrate.api.clock import ManualClock
from migrate.errors import Interrupted, UsageError
from migrate.rehearse.faults import expected_failures, parse_faults
from migrate.rehearse.listener import Listener, ListenerSettings
from migrate.rehearse.plan import plan_stream, stream_start
from migrate.rehearse.report import OK, Report, Step
from migrate.rehearse.steps import (
    Rig,
    check_parity,
    create_subscription,
    download_again,
    reconcile,
    recover_failed,
    run_the_checklist,
)
from migrate.rehearse.stream import DualStream, StreamStats
from migrate.simulator import SigningKey, SimConfig, Simulator, V2Webhook, generate_changes
from migrate.store import open_store, safe_url
from migrate.store.models import Event, IngestFile, Reject
from migrate.store.revision import stored_revision
from migrate.words import counted

DEFAULT_EVENTS = 2000
SETTLE = timedelta(minutes=15)
"""The last change happens this long before the rehearsal starts: parity and the checklist count
only events older than 10 minutes (``--min-age``), as they would a day into a real cutover."""
A_DAY = timedelta(days=1, seconds=1)
STORE_FILE = "rehearsal.db"

StepCallback = Callable[[Step, int, int], None]
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RehearsalOptions:
    directory: Path | None = None
    events: int = DEFAULT_EVENTS
    faults: frozenset[str] = frozenset()
    db_url: str | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        if self.events < 1:
            raise ValueError("--events must be at least 1")
        parse_faults(sorted(self.faults))


def make_directory(options: RehearsalOptions) -> Path:
    """``--dir`` (created when missing), else a new temporary folder (which is kept)."""
    if options.directory is None:
        return Path(tempfile.mkdtemp(prefix="webhooks-migrate-rehearsal-"))
    options.directory.mkdir(parents=True, exist_ok=True)
    return options.directory.resolve()


@dataclass
class Rehearsal:
    options: RehearsalOptions
    directory: Path
    on_step: StepCallback = lambda step, n, total: None
    on_progress: ProgressCallback = lambda done, total: None
    report: Report = field(init=False)
    current: str = "store"
    _listener: Listener | None = None
    _sim: Simulator | None = None
    _engine: sa.Engine | None = None
    _number: int = 0

    def __post_init__(self) -> None:
        o = self.options
        self.db_url = o.db_url or f"sqlite:///{self.directory / STORE_FILE}"
        self.report = Report(
            directory=str(self.directory),
            store=safe_url(self.db_url),
            events=o.events,
            seed=o.seed,
            faults=tuple(sorted(o.faults)),
            expected_failures=tuple(sorted(expected_failures(o.faults))),
        )
        self.total = 9 + ("duplicate-export" in o.faults)

    def run(self) -> Report:
        started = time.monotonic()
        try:
            self._steps()
        except KeyboardInterrupt:
            done = ", ".join(s.id for s in self.report.steps) or "nothing"
            raise Interrupted(
                f"rehearsal interrupted during {self.current} (done: {done}); the listener and "
                f"the simulator are stopped; what was stored is in {self.report.store}"
            ) from None
        finally:
            self.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        if self._sim is not None:
            self._sim.stop()
        if self._engine is not None:
            self._engine.dispose()

    def _done(self, step: Step, started: float) -> Step:
        step.seconds = time.monotonic() - started
        self._number += 1
        self.report.steps.append(step)
        self.on_step(step, self._number, self.total)
        return step

    def _steps(self) -> None:
        o = self.options
        t = time.monotonic()
        engine = self._engine = open_store(self.db_url)
        self._done(self._store_step(engine), t)

        self.current, t = "simulator", time.monotonic()
        now = datetime.now(UTC)
        span = _span(o.events, o.seed)
        changes = generate_changes(o.events, seed=o.seed, start=stream_start(span, now, SETTLE))
        clock = ManualClock(changes[0].occurred)
        sim = self._sim = Simulator(SimConfig(seed=o.seed), clock=clock).start()
        cid = sim.config.customer_id
        credentials = Credentials(
            client_id=sim.config.client_id, client_secret=Secret(sim.config.client_secret)
        )
        client = ApiClient(ApiSettings(sim.base_url, cid), credentials, clock=clock)
        rig = Rig(self.directory, self.db_url, engine, sim, client)
        self._done(
            Step(
                "simulator",
                OK,
                f"Identity Cloud stand-in at {sim.base_url}, customer {cid}; its clock starts "
                f"at the first change ({changes[0].occurred:%Y-%m-%d %H:%M:%S}Z) and jumps over "
                "the waits between deliveries",
                {"base_url": sim.base_url, "customer_id": cid},
            ),
            t,
        )

        self.current, t = "listener", time.monotonic()
        v2_hash = secrets.token_hex(16)
        listener = self._listener = Listener(
            ListenerSettings(
                db_url=self.db_url,
                base_url=sim.base_url,
                customer_id=cid,
                issuer=f"{sim.base_url}/{cid}/webhooks",
                v2_hash=v2_hash,
                log_path=self.directory / "listener.log",
            )
        ).start()
        pid = listener.process.pid if listener.process else None
        self._done(
            Step(
                "listener",
                OK,
                f"serve on {listener.base_url} (pid {pid}): /v3 verifies each token against "
                f"the simulator's keys, /v2/add|update|delete check the callback hash; "
                f"audience {listener.audience}, recorded in the store; its log: "
                f"{listener.settings.log_path}",
                {"url": listener.base_url, "port": listener.port, "pid": pid},
            ),
            t,
        )

        self.current, t = "subscription", time.monotonic()
        self._done(
            create_subscription(rig, listener.audience, skip="no-subscription" in o.faults), t
        )

        self.current, t = "stream", time.monotonic()
        plan = plan_stream(changes, o.faults, o.seed)
        rogue = SigningKey(rsa.generate_private_key(65537, 2048)) if plan.forged else None
        webhook = V2Webhook.for_listener(listener.base_url, v2_hash, "rehearsal")
        stream = DualStream(sim, clock, listener, plan, webhook, rogue, o.seed, self.on_progress)
        stats = stream.run(len(changes))
        self._done(self._stream_step(rig, stats, plan.outages, changes[0].occurred), t)

        self.current, t = "recover", time.monotonic()
        self._done(recover_failed(rig)[0], t)
        if "duplicate-export" in o.faults:
            self.current, t = "duplicate-export", time.monotonic()
            self._done(download_again(rig), t)
        # The API recomputes /summary at most daily; a day later it shows what recover did.
        clock.advance(A_DAY.total_seconds())

        self.current, t = "reconcile", time.monotonic()
        self._done(reconcile(rig, stats.event_ids, stats.v2_delivered), t)
        self.current, t = "parity", time.monotonic()
        self._done(check_parity(rig)[0], t)
        self.current, t = "checklist", time.monotonic()
        step, verdict = run_the_checklist(rig, listener.audience)
        self.report.verdict = verdict
        self._done(step, t)

    def _store_step(self, engine: sa.Engine) -> Step:
        with engine.connect() as conn:
            held = {
                table.__tablename__: conn.execute(
                    sa.select(sa.func.count()).select_from(table)
                ).scalar_one()
                for table in (Event, Reject, IngestFile)
            }
        if any(held.values()):
            listed = ", ".join(f"{n} {t}" for t, n in held.items() if n)
            raise UsageError(
                f"the store {self.report.store} is not empty ({listed}): a rehearsal needs a "
                "store of its own (a new --dir, or an empty database for --db)"
            )
        revision = stored_revision(engine)
        return Step(
            "store",
            OK,
            f"{self.report.store}: empty, at revision {revision}",
            {"url": self.report.store, "revision": revision},
        )

    def _stream_step(
        self, rig: Rig, stats: StreamStats, outages: tuple[object, ...], began: datetime
    ) -> Step:
        kinds = stats.kinds
        sim = rig.sim.world.counts(rig.sid) if rig.sid else None
        elapsed = rig.sim.clock.now() - began
        parts = [
            f"{stats.changes:,} changes ({kinds['ADD']:,} creates, {kinds['UPDATE']:,} updates, "
            f"{kinds['DELETE']:,} deletes)",
            f"v2: {stats.v2_posts:,} posts ({stats.v2_duplicate_posts} sent twice) carrying "
            f"{stats.v2_notifications:,} notifications, {stats.v2_delivered:,} delivered, "
            f"{stats.v2_lost:,} lost",
        ]
        if sim is not None and rig.sid is not None:
            retried, late = retries(rig.sim, rig.sid)
            parts.append(
                f"v3: {stats.v3_published:,} events, {sim['attempts']:,} attempts: "
                f"{sim['succeeded']:,} delivered ({retried:,} after a retry, {late:,} of them "
                f"5 min or more late), {sim['failed']:,} failed after 6 attempts"
            )
        notes = [f"{_days(elapsed)} of simulated time (first change to last retry)"]
        if outages:
            notes.append(
                f"the listener went down {counted(len(outages), 'time')} and was restarted "
                f"{counted(stats.listener_restarts, 'time')}; v2 notifications sent while it was "
                "down are lost (v2 has no bulk export), v3 events come back by retry or export"
            )
        if stats.v3_skipped:
            notes.append(f"{stats.v3_skipped:,} changes never became v3 events")
        if stats.v3_forged:
            notes.append(f"{stats.v3_forged:,} v3 tokens were signed by an unknown key")
        numbers = {
            **stats.to_json(),
            "simulator": sim,
            "simulated_seconds": elapsed.total_seconds(),
        }
        return Step("stream", OK, "; ".join(parts), numbers, notes)


def retries(sim: Simulator, sid: str) -> tuple[int, int]:
    """Delivered events that needed a retry, and those delivered at the 4th attempt or later
    (5 min or more after the first)."""
    with sim.world.lock:
        done = [
            e.attempts
            for e in sim.world.events.values()
            if e.subscription_id == sid and e.state == "success"
        ]
    return sum(1 for a in done if a > 1), sum(1 for a in done if a >= 4)


def _span(events: int, seed: int) -> timedelta:
    probe = generate_changes(events, seed=seed)
    return probe[-1].occurred - probe[0].occurred


def _days(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def rehearse(
    options: RehearsalOptions,
    *,
    directory: Path | None = None,
    on_step: StepCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Run a rehearsal (in ``directory``, else :func:`make_directory`'s) and return its report;
    its verdict is the checklist's (``report.ready``)."""
    folder = directory or make_directory(options)
    rehearsal = Rehearsal(options, folder)
    if on_step is not None:
        rehearsal.on_step = on_step
    if on_progress is not None:
        rehearsal.on_progress = on_progress
    return rehearsal.run()
