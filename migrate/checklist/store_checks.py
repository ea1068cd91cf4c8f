"""The checks the store answers: store, receipt, signatures, rejects, parity, exports."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Select, func, select

from migrate.checklist.context import Context
from migrate.checklist.model import FAIL, PASS, SKIP, WARN, Check
from migrate.parity import ParityOptions, run_parity
from migrate.rejects import count_unresolved
from migrate.store.models import Event, IngestFile
from migrate.store.revision import shipped_head, stored_revision


def check_store(ctx: Context) -> Check:
    if ctx.store_error is not None:
        return Check("store", FAIL, f"{ctx.store_error}: check --db / WEBHOOKS_MIGRATE_DB")
    engine = ctx.engine
    assert engine is not None
    revision = stored_revision(engine)
    if revision != shipped_head():
        return Check(
            "store",
            FAIL,
            f"the store is at revision {revision or '<none>'}, this version needs "
            f"{shipped_head()}: run `webhooks-migrate db upgrade`",
        )
    from migrate.store.migrations import check as drift

    differences = drift(engine)
    if differences:
        return Check(
            "store",
            FAIL,
            f"{len(differences)} difference(s) between the store and the models "
            f"(first: {differences[0]}): run `webhooks-migrate db check` and repair the schema",
        )
    return Check("store", PASS, f"{ctx.store_name} at revision {revision}, no drift")


def _skip_without_store(name: str, ctx: Context) -> Check | None:
    if not ctx.store_ready:
        return Check(name, SKIP, "the store cannot be read (see the store check)")
    return None


def check_receipt(ctx: Context) -> Check:
    skipped = _skip_without_store("receipt", ctx)
    if skipped:
        return skipped
    span = ctx.settings.window_span
    since = ctx.now - span
    with ctx.connect() as conn:
        newest = conn.execute(select(func.max(Event.occurred_at)).where(Event.source == "v3"))
        last = newest.scalar()
        recent = conn.execute(
            select(func.count()).where(Event.source == "v3", Event.occurred_at >= since)
        ).scalar_one()
    if recent:
        return Check(
            "receipt",
            PASS,
            f"{recent:,} v3 event(s) in the last {ctx.settings.window}, newest at {last}",
        )
    last_seen = f"the newest is from {last}" if last is not None else "none was ever stored"
    return Check(
        "receipt",
        FAIL,
        f"no v3 event in the last {ctx.settings.window} ({last_seen}): check that the listener "
        "is up (GET /readyz), that the subscription is enabled and points at it, and run "
        "`webhooks-migrate api recover` for what failed to arrive",
    )


def signature_counts() -> Select[bool | None, int]:
    """v3 events by ``signature_verified``: counted in the ``(source, event_type,
    signature_verified)`` index alone, not by reading every v3 row."""
    return (
        select(Event.signature_verified, func.count())
        .where(Event.source == "v3")
        .group_by(Event.signature_verified)
    )


def check_signatures(ctx: Context) -> Check:
    skipped = _skip_without_store("signatures", ctx)
    if skipped:
        return skipped
    with ctx.connect() as conn:
        rows = conn.execute(signature_counts()).all()
    counts = {None if v is None else bool(v): int(n) for v, n in rows}
    verified, unverified, unsigned = counts.get(True, 0), counts.get(False, 0), counts.get(None, 0)
    if unverified:
        return Check(
            "signatures",
            FAIL,
            f"{unverified:,} v3 event(s) were stored without verifying their signature "
            "(--no-verify): ingest them again with --jwks, or remove them and run "
            "`webhooks-migrate api recover`",
        )
    note = f"; {unsigned:,} came from bulk exports, which carry no signature" if unsigned else ""
    return Check("signatures", PASS, f"{verified:,} v3 event(s) verified{note}")


def check_rejects(ctx: Context) -> Check:
    skipped = _skip_without_store("rejects", ctx)
    if skipped:
        return skipped
    with ctx.connect() as conn:
        by_reason = count_unresolved(conn)
    total = sum(by_reason.values())
    if not total:
        return Check("rejects", PASS, "no unresolved reject")
    reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(by_reason.items()))
    return Check(
        "rejects",
        FAIL,
        f"{total:,} unresolved reject(s) ({reasons}): see `webhooks-migrate rejects list`; "
        "fix the cause and `rejects retry`, or accept a loss with `rejects resolve ID --note`",
    )


def check_parity(ctx: Context) -> Check:
    skipped = _skip_without_store("parity", ctx)
    if skipped:
        return skipped
    s = ctx.settings
    assert ctx.engine is not None
    report = run_parity(
        ctx.engine,
        ParityOptions(
            tolerance=timedelta(seconds=s.tolerance), min_age=timedelta(seconds=s.min_age)
        ),
        now=ctx.now,
    )
    coverage = report.coverage
    where = f"over {report.v2_total:,} v2 event(s)"
    if report.v2_total < s.min_events or coverage is None:
        return Check(
            "parity",
            FAIL,
            f"only {report.v2_total:,} v2 event(s) to compare, fewer than min_events "
            f"{s.min_events}: keep both streams running longer (events younger than "
            f"{s.min_age:g} s do not count yet), or ingest the v2 archive",
        )
    if coverage < s.min_coverage:
        worst = sorted(
            (k for k in report.by_kind.items() if k[1].v2_total),
            key=lambda item: item[1].matched / item[1].v2_total,
        )[:3]
        kinds = ", ".join(f"{kind} {c.matched / c.v2_total:.4f}" for kind, c in worst)
        return Check(
            "parity",
            FAIL,
            f"parity {coverage:.4f} < {s.min_coverage} {where}: {report.v2_only:,} v2 event(s) "
            f"have no v3 partner (by kind: {kinds}); run `webhooks-migrate parity --details` "
            "to list them, then `webhooks-migrate api recover` and check the subscription's "
            "filter",
        )
    return Check(
        "parity",
        PASS,
        f"parity {coverage:.4f} >= {s.min_coverage} {where} ({report.matched:,} matched, "
        f"{report.v3_only:,} v3-only)",
    )


def check_exports(ctx: Context) -> Check:
    skipped = _skip_without_store("exports", ctx)
    if skipped:
        return skipped
    folder = Path(ctx.settings.exports_dir)
    sidecars = sorted(folder.glob("*.meta.json")) if folder.is_dir() else []
    if not sidecars:
        return Check("exports", PASS, f"no export file downloaded in {folder}")
    missing: list[str] = []
    incomplete: list[str] = []
    with ctx.connect() as conn:
        for sidecar in sidecars:
            try:
                meta = json.loads(sidecar.read_text("utf-8"))
                sha, path = str(meta["sha256"]), str(meta.get("path") or sidecar)
            except (OSError, ValueError, KeyError, TypeError):
                return Check(
                    "exports",
                    WARN,
                    f"{sidecar}: not a download record; remove it or download the export again",
                )
            statuses = (
                conn.execute(select(IngestFile.status).where(IngestFile.sha256 == sha))
                .scalars()
                .all()
            )
            if not statuses:
                missing.append(path)
            elif "completed" not in statuses:
                incomplete.append(path)
    if missing or incomplete:
        parts = []
        if missing:
            parts.append(f"{len(missing)} downloaded but never ingested ({missing[0]}, ...)")
        if incomplete:
            parts.append(f"{len(incomplete)} ingested only in part ({incomplete[0]}, ...)")
        return Check(
            "exports",
            FAIL,
            "; ".join(parts) + ": run `webhooks-migrate ingest --from export FILE` "
            "(files already loaded are skipped)",
        )
    return Check("exports", PASS, f"{len(sidecars)} downloaded export file(s), each ingested once")
