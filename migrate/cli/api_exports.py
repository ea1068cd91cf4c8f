"""``api exports`` and ``api recover``: export jobs, their files, and the recover loop.

Commands only parse options, call :mod:`migrate.api` and print (see :mod:`migrate.cli.api`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from migrate.api import exports as exports_api
from migrate.api.client import ApiClient
from migrate.api.errors import Conflict
from migrate.api.files import file_name_for
from migrate.api.models import ExportJob, JobPhase
from migrate.api.recover import IngestCounts, Progress, RecoverOptions, recover
from migrate.cli.base import (
    connection,
    emit,
    json_format,
    opened_store,
    store_options,
    warn,
)
from migrate.errors import ProblemFound


def _job_line(job: ExportJob) -> str:
    created, updated = job.created_at or "?", job.updated_at or "?"
    return f"{job.id}  {job.describe_state():<12}  created {created}  updated {updated}"


@click.group()
def exports() -> None:
    """Bulk exports of failed events (one active at a time, one completed per 24 h)."""


@exports.command("start")
@connection()
@json_format
def exports_start(client: ApiClient, subscription_id: str, output_format: str) -> None:
    """Start an export job (never repeated automatically: that could start two)."""
    try:
        job = exports_api.start_export(client, subscription_id)
    except Conflict as exc:
        jobs = exports_api.list_exports(client, subscription_id)
        current = next((j for j in jobs if j.phase is JobPhase.ACTIVE), None)
        hint = f"; export {current.id} is {current.state}" if current else ""
        raise ProblemFound(
            f"the API refused a new export: {exc.details or exc.title}{hint}"
        ) from exc
    _emit_job(job, output_format)


@exports.command("list")
@connection()
@json_format
def exports_list(client: ApiClient, subscription_id: str, output_format: str) -> None:
    """Jobs of the last 7 days (their ids are the download ids), newest first."""
    jobs = exports_api.list_exports(client, subscription_id)
    lines = [_job_line(job) for job in jobs] or ["no export jobs in the last 7 days"]
    emit(output_format, {"total": len(jobs), "exports": [j.raw for j in jobs]}, lines)


@exports.command("status")
@click.argument("export_id")
@connection()
@json_format
def exports_status(
    export_id: str, client: ApiClient, subscription_id: str, output_format: str
) -> None:
    """One job's state."""
    _emit_job(exports_api.get_export(client, subscription_id, export_id), output_format)


@exports.command("cancel")
@click.argument("export_id")
@connection()
@json_format
def exports_cancel(
    export_id: str, client: ApiClient, subscription_id: str, output_format: str
) -> None:
    """Cancel an active job (its events become exportable again)."""
    _emit_job(exports_api.cancel_export(client, subscription_id, export_id), output_format)


def _emit_job(job: ExportJob, output_format: str) -> None:
    emit(output_format, job.raw, [_job_line(job)])


@exports.command("download")
@click.argument("export_id")
@connection()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the NDJSON file (default: ./<export-id>.ndjson).",
)
@click.option("--ingest", "load", is_flag=True, help="Load the file into the store (exactly once).")
@store_options
@json_format
def exports_download(
    export_id: str,
    client: ApiClient,
    subscription_id: str,
    output: Path | None,
    load: bool,
    db_url: str,
    no_upgrade: bool,
    output_format: str,
) -> None:
    """Download an export's NDJSON file atomically and record its ETag.

    A 404 is explained by checking the job: still active (not ready), canceled (never), or
    gone (a wrong id, or deleted after 7 days). With --ingest the file goes through the ingest
    ledger, so downloading and loading the same file twice never loads it twice.
    """
    dest = output or Path(file_name_for(export_id))
    try:
        saved = exports_api.download_export(client, subscription_id, export_id, dest)
    except exports_api.FileNotAvailable as exc:
        raise ProblemFound(str(exc)) from exc
    counts = None
    if load:
        with opened_store(db_url, no_upgrade) as sink:
            counts = sink.ingest(dest, saved.etag)
    data = {
        "path": saved.path,
        "etag": saved.etag,
        "sha256": saved.sha256,
        "bytes": saved.bytes,
        "lines": saved.lines,
        "ingest": None if counts is None else _counts_json(counts),
    }
    lines = [
        f"{saved.path}: {saved.lines} lines, {saved.bytes} bytes, ETag {saved.etag or '(none)'}"
    ]
    if counts is not None:
        lines.append(_counts_text(counts))
    emit(output_format, data, lines)
    if counts is not None and counts.rejected:
        raise ProblemFound(f"{counts.rejected} line(s) rejected; see the store's rejects table")


def _counts_json(counts: IngestCounts) -> dict[str, Any]:
    return {
        "read": counts.read,
        "inserted": counts.inserted,
        "duplicates": counts.duplicates,
        "rejected": counts.rejected,
        "already_ingested": counts.already_ingested,
    }


def _counts_text(counts: IngestCounts) -> str:
    if counts.already_ingested:
        return "already ingested: nothing loaded"
    return (
        f"ingested: read {counts.read}, inserted {counts.inserted}, "
        f"duplicates {counts.duplicates}, rejected {counts.rejected}"
    )


# -- events --------------------------------------------------------------------------------


@click.command("recover")
@connection()
@click.option(
    "--download-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("exports"),
    show_default=True,
    help="Where export files are kept (a file here counts as downloaded).",
)
@store_options
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.0),
    default=2.0,
    show_default=True,
    help="First pause between status checks (doubles up to 60 s).",
)
@click.option(
    "--wait-limit",
    type=click.FloatRange(min=0.0),
    default=3600.0,
    show_default=True,
    help="Stop waiting for an export after this many seconds (re-run to resume).",
)
@click.option("--strict", is_flag=True, help="Exit 1 when a summary breaks its invariants.")
@json_format
def recover_command(
    client: ApiClient,
    subscription_id: str,
    download_dir: Path,
    db_url: str,
    no_upgrade: bool,
    poll_interval: float,
    wait_limit: float,
    strict: bool,
    output_format: str,
) -> None:
    """Recover failed events: summary, export, wait, download, ingest, summary.

    Each step is printed on stderr. Safe to interrupt and run again at any point: a running
    export is awaited rather than duplicated, a downloaded file is not fetched again, and the
    ingest ledger never loads a file twice. Exit 1 when lines were rejected, an export's file
    could not be had, or (with --strict) a summary is inconsistent.
    """
    options = RecoverOptions(download_dir, poll_initial=poll_interval, wait_limit=wait_limit)

    def show(progress: Progress) -> None:
        click.echo(f"[{progress.step}] {progress.message}", err=True)

    with opened_store(db_url, no_upgrade) as sink:
        report = recover(client, subscription_id, sink, options, show)
    emit(output_format, report.to_json(), report.changes or ["nothing changed"])
    for warning in report.warnings:
        warn(warning)
    unavailable = [j for j in report.jobs if j.unavailable and j.unavailable != "never"]
    if report.rejected:
        raise ProblemFound(f"{report.rejected} exported line(s) rejected; see the rejects table")
    if unavailable:
        raise ProblemFound(f"{len(unavailable)} export file(s) could not be downloaded")
    if strict and report.summary_problems:
        raise ProblemFound("a summary breaks its invariants")
