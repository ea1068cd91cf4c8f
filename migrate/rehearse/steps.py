"""The rehearsal's steps after the stream, each through the library function of its command.

``api subscriptions create --from-v2`` (:func:`create_subscription`), ``api recover``
(:func:`recover_failed`), ``api exports download --ingest`` (:func:`download_again`),
``parity`` (:func:`check_parity`) and ``checklist`` (:func:`run_the_checklist`); plus
:func:`reconcile`, which holds the simulator's own records against the store's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from migrate.api import subscriptions as subs
from migrate.api.client import ApiClient
from migrate.api.exports import download_export
from migrate.api.persist import StoreSink
from migrate.api.recover import Progress, RecoverOptions, RecoverReport, recover
from migrate.api.recover import Step as RecoverStep
from migrate.checklist import FAIL as CHECK_FAIL
from migrate.checklist import WARN, Check, ChecklistSettings, Verdict, run_checklist
from migrate.defaults import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from migrate.parity import ParityOptions, ParityReport, run_parity
from migrate.rehearse.report import FAIL, OK, SKIP, Step
from migrate.rejects import count_unresolved
from migrate.simulator import Simulator
from migrate.simulator.changes import ATTRIBUTES
from migrate.store.models import Event
from migrate.words import counted

EXPORTS = "exports"


@dataclass
class Rig:
    """What the steps share: the folder, the store, the simulator and a client of its API."""

    directory: Path
    db_url: str
    engine: sa.Engine
    sim: Simulator
    client: ApiClient
    sid: str | None = None
    export_ids: list[str] = field(default_factory=list)

    @property
    def exports_dir(self) -> Path:
        return self.directory / EXPORTS


def v2_webhook_config(sim: Simulator) -> dict[str, Any]:
    """The v2 webhook being replaced: the application's users, every kind, every attribute."""
    return {
        "title": "Rehearsal: user changes (from v2)",
        "app_id": sim.config.application_id,
        "entity_type": "user",
        "kinds": ["ADD", {"kind": "UPDATE", "attributes": list(ATTRIBUTES)}, "DELETE"],
    }


def create_subscription(rig: Rig, endpoint: str, *, skip: bool) -> Step:
    """``api subscriptions create --from-v2 v2-webhook.json --endpoint URL``."""
    config = rig.directory / "v2-webhook.json"
    config.write_text(json.dumps(v2_webhook_config(rig.sim), indent=2) + "\n", "utf-8")
    if skip:
        return Step(
            "subscription",
            SKIP,
            f"not created (fault no-subscription); the v2 webhook is described in {config}",
        )
    conversion = subs.v3_subscription(
        subs.parse_v2_webhook(json.loads(config.read_text("utf-8"))), endpoint=endpoint
    )
    (placed,) = subs.create_unless_present(rig.client, [conversion.body])
    rig.sid = subs.subscription_id_of(placed.subscription)
    body = conversion.body
    notes = [f"{w} (expected in a rehearsal on loopback)" for w in conversion.warnings]
    return Step(
        "subscription",
        OK,
        f"{'reused' if placed.reused else 'created'} subscription {rig.sid} from {config.name}: "
        f"{', '.join(body['events'])} to {endpoint}, filtered to application "
        f"{rig.sim.config.application_id}, entity user, {len(ATTRIBUTES)} watched attributes",
        {"subscription_id": rig.sid, "endpoint": endpoint, "events": body["events"]},
        notes,
    )


def recover_failed(rig: Rig) -> tuple[Step, RecoverReport | None]:
    """``api recover --download-dir DIR/exports``: summary, export, wait, download, ingest."""
    if rig.sid is None:
        return Step("recover", SKIP, "no subscription: nothing to recover"), None
    said: list[str] = []
    notes: list[str] = []

    def note(progress: Progress) -> None:
        said.append(f"[{progress.step}] {progress.message}")
        if progress.step is RecoverStep.EXPORT:
            notes.append(progress.message)

    with_sink = StoreSink(rig.engine)
    report = recover(
        rig.client, rig.sid, with_sink, RecoverOptions(rig.exports_dir, poll_initial=2.0), note
    )
    before = report.before
    inserted = sum(j.ingest.inserted for j in report.jobs if j.ingest)
    duplicates = sum(j.ingest.duplicates for j in report.jobs if j.ingest)
    lines = sum(j.lines or 0 for j in report.jobs)
    rig.export_ids = [j.id for j in report.jobs if j.path]
    exportable = before.exportable if before else 0
    if not report.jobs:
        line = f"summary: {exportable} exportable: no export needed"
    else:
        line = (
            f"summary said {exportable} failed event(s) exportable; export "
            f"{', '.join(j.id for j in report.jobs)}: {counted(lines, 'line')} → "
            f"{inserted} new event(s), {duplicates} already in the store, "
            f"{report.rejected} rejected"
        )
    status = FAIL if report.rejected or any(j.unavailable for j in report.jobs) else OK
    numbers = {
        "exportable_before": exportable,
        "exports": len(report.jobs),
        "lines": lines,
        "inserted": inserted,
        "duplicates": duplicates,
        "rejected": report.rejected,
        "progress": said,
    }
    return Step("recover", status, line, numbers, notes + report.warnings), report


def download_again(rig: Rig) -> Step:
    """``api exports download ID --ingest``, a second time: the ledger must skip the file."""
    if rig.sid is None or not rig.export_ids:
        return Step("duplicate-export", SKIP, "no export file to download twice")
    job_id = rig.export_ids[0]
    dest = rig.exports_dir / f"{job_id}.again.ndjson"
    saved = download_export(rig.client, rig.sid, job_id, dest)
    counts = StoreSink(rig.engine).ingest(dest, saved.etag)
    status = OK if counts.already_ingested or counts.inserted == 0 else FAIL
    state = "already ingested: skipped" if counts.already_ingested else "loaded"
    return Step(
        "duplicate-export",
        status,
        f"downloaded export {job_id} again ({counted(saved.lines, 'line')}, sha256 "
        f"{saved.sha256[:12]}…) and loaded it: {state}, {counts.inserted} new event(s)",
        {"inserted": counts.inserted, "already_ingested": counts.already_ingested},
    )


def store_counts(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        v3_ids = set(conn.execute(sa.select(Event.event_id).where(Event.source == "v3")).scalars())
        from_files = conn.execute(
            sa.select(sa.func.count()).where(Event.source == "v3", Event.first_file_id.is_not(None))
        ).scalar_one()
        v2 = conn.execute(sa.select(sa.func.count()).where(Event.source == "v2")).scalar_one()
        seen = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(Event.seen_count), 0)))
        rejects = count_unresolved(conn)
    return {
        "v3_ids": v3_ids,
        "v3_from_exports": int(from_files),
        "v2": int(v2),
        "seen": int(seen.scalar_one()),
        "rejects": sum(rejects.values()),
    }


def reconcile(rig: Rig, published: list[str], v2_delivered: int) -> Step:
    """Every v3 event the simulator published in the store exactly once; v2 likewise."""
    world = rig.sim.world
    jtis = {world.events[eid].claims["jti"] for eid in published if eid in world.events}
    counts = store_counts(rig.engine)
    stored = counts["v3_ids"]
    missing, extra = len(jtis - stored), len(stored - jtis)
    sim = world.counts(rig.sid) if rig.sid else None
    by_listener = len(stored) - counts["v3_from_exports"]
    parts = [
        f"v3: {len(jtis):,} published, {len(stored):,} in the store once each "
        f"({by_listener:,} through the listener, {counts['v3_from_exports']:,} from the export), "
        f"{missing} missing",
        f"v2: {v2_delivered:,} delivered, {counts['v2']:,} in the store",
    ]
    if sim is not None:
        parts.append(
            f"the simulator: {sim['total']:,} = {sim['succeeded']:,} succeeded + "
            f"{sim['retrying']:,} retrying + {sim['failed']:,} failed, "
            f"{sim['exportable']} still exportable, {sim['attempts']:,} attempts"
        )
    parts.append(f"{counts['rejects']} unresolved reject(s)")
    ok = missing == 0 and extra == 0 and counts["v2"] == v2_delivered
    numbers = {
        "v3_published": len(jtis),
        "v3_stored": len(stored),
        "v3_missing": missing,
        "v3_unexpected": extra,
        "v3_from_exports": counts["v3_from_exports"],
        "v2_delivered": v2_delivered,
        "v2_stored": counts["v2"],
        "duplicates_absorbed": counts["seen"] - len(stored) - counts["v2"],
        "rejects": counts["rejects"],
        "simulator": sim,
    }
    return Step("reconcile", OK if ok else FAIL, "; ".join(parts), numbers)


def check_parity(rig: Rig) -> tuple[Step, ParityReport]:
    """``parity`` with its defaults (120 s tolerance, events older than 10 minutes)."""
    report = run_parity(rig.engine, ParityOptions())
    coverage = report.coverage
    shown = "n/a" if coverage is None else f"{coverage:.4f}"
    line = (
        f"coverage {shown} over {report.v2_total:,} v2 event(s): {report.matched:,} matched, "
        f"{report.v2_only:,} v2-only, {report.v3_only:,} v3-only"
    )
    status = OK if coverage is not None and coverage >= 0.999 else FAIL
    numbers = {
        "coverage": coverage,
        "v2_total": report.v2_total,
        "v3_total": report.v3_total,
        "matched": report.matched,
        "v2_only": report.v2_only,
        "v3_only": report.v3_only,
    }
    return Step("parity", status, line, numbers), report


def loopback_endpoint(verdict: Verdict, listener_url: str) -> Verdict:
    """The endpoint check fails an http:// loopback URL, rightly: Identity Cloud cannot reach
    it. In a rehearsal that is the point, so that one failure becomes a warning saying so;
    any other endpoint problem stays a failure."""
    checks = []
    for check in verdict.checks:
        if check.id == "endpoint" and check.status == CHECK_FAIL and listener_url in check.detail:
            check = Check(
                "endpoint",
                WARN,
                f"{listener_url} is the rehearsal's listener on loopback over http, which "
                "Identity Cloud could not reach; against your tenant this check fails unless "
                "the listener has an https:// URL on a public name",
            )
        checks.append(check)
    return replace(verdict, checks=tuple(checks))


def run_the_checklist(rig: Rig, listener_url: str) -> tuple[Step, Verdict]:
    """``checklist --exports-dir DIR/exports`` with the simulator as the API."""
    config = rig.sim.config
    settings = ChecklistSettings(
        exports_dir=str(rig.exports_dir),
        base_url=rig.sim.base_url,
        customer_id=config.customer_id,
        subscription_id=rig.sid,
    )
    env = {CLIENT_ID_ENV: config.client_id, CLIENT_SECRET_ENV: config.client_secret}
    verdict = loopback_endpoint(run_checklist(rig.db_url, settings, env=env), listener_url)
    tally: dict[str, int] = {}
    for c in verdict.checks:
        tally[c.status] = tally.get(c.status, 0) + 1
    failing = [c.id for c in verdict.checks if c.status == CHECK_FAIL]
    word = "READY to turn v2 off" if verdict.ready else "NOT READY"
    line = f"{word}: " + ", ".join(f"{n} {s}" for s, n in tally.items())
    if failing:
        line += f" (failing: {', '.join(failing)})"
    numbers = {"ready": verdict.ready, "failing": failing, **tally}
    return Step("checklist", OK if verdict.ready else FAIL, line, numbers), verdict
