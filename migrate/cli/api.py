"""``api``: the Identity Cloud Webhooks v3 API (summary, exports, events, subscriptions, recover).

Commands only parse options, call :mod:`migrate.api` and print. Credentials come from the
environment (see :mod:`migrate.api.auth`), never from flags.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from migrate.api import events as events_api
from migrate.api import exports as exports_api
from migrate.api import subscriptions as subs_api
from migrate.api.auth import credentials_from_env
from migrate.api.client import DEFAULT_BASE_URL, ApiClient, ApiSettings, RetryPolicy
from migrate.api.errors import ApiConfigError, ApiError, Conflict
from migrate.api.files import file_name_for
from migrate.api.models import ExportJob, JobPhase, Summary
from migrate.api.recover import IngestCounts, Progress, RecoverOptions, recover
from migrate.cli.base import (
    OperationalFailure,
    ProblemFound,
    db_option,
    emit_json,
    format_option,
    one_line,
)
from migrate.words import counted

F = TypeVar("F", bound=Callable[..., Any])

BASE_URL_ENV = "WEBHOOKS_MIGRATE_API_URL"
CUSTOMER_ENV = "WEBHOOKS_MIGRATE_CUSTOMER_ID"
SUBSCRIPTION_ENV = "WEBHOOKS_MIGRATE_SUBSCRIPTION_ID"
json_format = format_option("text", "json")


# -- shared options and error handling -----------------------------------------------------


def connection(
    *, subscription: bool = True, lazy: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--base-url, --customer-id, --timeout, --tries and (usually) --subscription-id, env-backed.

    The command gets ``client``, the :class:`ApiClient` those options make (with ``lazy``,
    ``connect``: a function that makes it, for commands that may not call the API at all), and
    ``subscription_id`` as given. Every API failure, making the client included, goes through
    :func:`api_errors`.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @api_errors
        @functools.wraps(func)
        def command(
            *args: Any, base_url: str, customer_id: str, timeout: float, tries: int, **kwargs: Any
        ) -> Any:
            def connect() -> ApiClient:
                return make_client(base_url, customer_id, timeout, tries)

            if lazy:
                kwargs["connect"] = connect
            else:
                kwargs["client"] = connect()
            return func(*args, **kwargs)

        options = [
            click.option(
                "--base-url",
                envvar=BASE_URL_ENV,
                default=DEFAULT_BASE_URL,
                show_default=True,
                help=f"API root (env {BASE_URL_ENV}); http:// only for loopback.",
            ),
            click.option(
                "--customer-id", envvar=CUSTOMER_ENV, default="", help=f"env {CUSTOMER_ENV}"
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0.1),
                default=30.0,
                show_default=True,
                help="Seconds to wait for the network on each request.",
            ),
            click.option(
                "--tries",
                type=click.IntRange(min=1),
                default=5,
                show_default=True,
                help="Tries per request on network errors, 5xx and 429 (with back-off).",
            ),
        ]
        if subscription:
            options.append(
                click.option(
                    "--subscription-id",
                    envvar=SUBSCRIPTION_ENV,
                    required=True,
                    help=f"env {SUBSCRIPTION_ENV}",
                )
            )
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def store_options(func: F) -> F:
    func = click.option(
        "--no-upgrade", is_flag=True, help="Do not bring the store to the newest revision."
    )(func)
    return db_option(func)  # type: ignore[return-value]


def make_client(base_url: str, customer_id: str, timeout: float, tries: int) -> ApiClient:
    settings = ApiSettings(base_url=base_url, customer_id=customer_id, timeout=timeout)
    return ApiClient(settings, credentials_from_env(os.environ), retry=RetryPolicy(attempts=tries))


def api_errors(func: F) -> F:
    """API failures as one line with the contract's exit codes (3 operational, 1 problem)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ApiConfigError as exc:
            raise click.UsageError(one_line(exc)) from exc
        except (ApiError, subs_api.V2ConfigError) as exc:
            ctx = click.get_current_context()
            if ctx.find_root().obj and ctx.find_root().obj.get("debug"):
                raise
            if isinstance(exc, ApiError) and exc.operational:
                raise OperationalFailure(one_line(exc)) from exc
            raise ProblemFound(one_line(exc)) from exc

    return wrapper  # type: ignore[return-value]


@contextmanager
def opened_store(db_url: str, no_upgrade: bool) -> Iterator[Any]:
    # Imported here: commands that never touch the store do not pay for SQLAlchemy.
    from migrate.api.persist import StoreSink
    from migrate.cli.store_ready import require_store

    if no_upgrade:
        require_store(db_url)
    sink = StoreSink.open(db_url, upgrade=not no_upgrade)
    try:
        yield sink
    finally:
        sink.close()


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def emit(output_format: str, data: Any, lines: Iterable[str]) -> None:
    """``data`` as JSON with ``--format json``, else the text ``lines``, one per line."""
    if output_format == "json":
        emit_json(data)
        return
    for line in lines:
        click.echo(line)


def _job_line(job: ExportJob) -> str:
    created, updated = job.created_at or "?", job.updated_at or "?"
    return f"{job.id}  {job.describe_state():<12}  created {created}  updated {updated}"


@click.group()
def api() -> None:
    """The Identity Cloud Webhooks v3 API.

    Credentials: WEBHOOKS_MIGRATE_TOKEN (or _TOKEN_FILE), or WEBHOOKS_MIGRATE_CLIENT_ID with
    WEBHOOKS_MIGRATE_CLIENT_SECRET (or _CLIENT_SECRET_FILE), exchanged for a token that is
    renewed when it expires. Rehearse against `webhooks-migrate simulate api`.
    """


# -- summary -------------------------------------------------------------------------------


@api.command()
@connection()
@store_options
@click.option("--no-store", is_flag=True, help="Do not store the snapshot in `summaries`.")
@click.option("--strict", is_flag=True, help="Exit 1 when the summary breaks its invariants.")
@json_format
def summary(
    client: ApiClient,
    subscription_id: str,
    db_url: str,
    no_upgrade: bool,
    no_store: bool,
    strict: bool,
    output_format: str,
) -> None:
    """The subscription's event counts; stored as a snapshot and checked.

    Invariants: total = succeeded + retrying + failed, exportable <= failed. A broken one is a
    warning (exit 1 with --strict). The API recomputes the summary at most once per 24 h.
    """
    snapshot = events_api.get_summary(client, subscription_id)
    stored: bool | None = None
    if not no_store:
        with opened_store(db_url, no_upgrade) as sink:
            stored = sink.save_summary(subscription_id, snapshot, client.clock.now())
    problems = snapshot.invariant_problems()
    data = {
        "subscription_id": subscription_id,
        "summary": snapshot.raw,
        "invariants": {"ok": not problems, "problems": problems},
        "stored": stored,
    }
    emit(output_format, data, _summary_lines(snapshot))
    for problem in problems:
        warn(f"summary invariant broken: {problem}")
    if problems and strict:
        raise ProblemFound(f"the summary breaks {len(problems)} invariant(s)")


def _summary_lines(s: Summary) -> list[str]:
    return [
        f"updated    {s.updated_at}",
        f"total      {s.total}",
        f"succeeded  {s.succeeded}",
        f"retrying   {s.retrying}",
        f"failed     {s.failed}",
        f"exportable {s.exportable}",
    ]


# -- exports -------------------------------------------------------------------------------


@api.group()
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
        f"{saved.path}: {counted(saved.lines, 'line')}, {counted(saved.bytes, 'byte')}, "
        f"ETag {saved.etag or '(none)'}"
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


@api.group()
def events() -> None:
    """The events store: every event of the last 7 days with its delivery state."""


@events.command("list")
@connection()
@click.option(
    "--state",
    type=click.Choice(["success", "retrying", "failure"], case_sensitive=False),
    help="Only events in this delivery state.",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many events.")
@json_format
def events_list(
    client: ApiClient,
    subscription_id: str,
    state: str | None,
    limit: int | None,
    output_format: str,
) -> None:
    """Events, following the API's pages."""
    records = list(events_api.list_events(client, subscription_id, state=state, limit=limit))
    lines = (
        f"{r.id}  {r.state:<9} attempts {r.attempts}  {r.event_type or '?':<16} {r.created_at}"
        for r in records
    )
    # The API's own page shape, all pages in one: what `ingest --from events` reads.
    page = {"total": len(records), "_embedded": {"events": [r.raw for r in records]}}
    emit(output_format, page, lines)


@events.command("show")
@click.argument("event_id")
@connection()
@json_format
def events_show(event_id: str, client: ApiClient, subscription_id: str, output_format: str) -> None:
    """One event record (the token inside is shown as the API keeps it: encoded)."""
    record = events_api.get_event(client, subscription_id, event_id)
    lines = [
        f"id         {record.id}",
        f"type       {record.event_type}",
        f"state      {record.state}",
        f"attempts   {record.attempts}",
        f"created    {record.created_at}",
        f"updated    {record.updated_at}",
    ]
    emit(output_format, record.raw, lines)


@events.command("history")
@click.argument("event_id")
@connection()
@json_format
def events_history(
    event_id: str, client: ApiClient, subscription_id: str, output_format: str
) -> None:
    """The delivery attempts of one event."""
    attempts = events_api.event_history(client, subscription_id, event_id)
    lines = (json.dumps(attempt, sort_keys=True) for attempt in attempts)
    emit(output_format, {"event_id": event_id, "history": attempts}, lines)


@events.command("redeliver")
@click.argument("event_id")
@connection()
@json_format
def events_redeliver(
    event_id: str, client: ApiClient, subscription_id: str, output_format: str
) -> None:
    """Deliver a failed event once more (only failed events of the last 7 days)."""
    answer = events_api.redeliver(client, subscription_id, event_id)
    line = f"{event_id}: redelivery requested (state {answer.get('state', '?')})"
    emit(output_format, answer, [line])


# -- subscriptions -------------------------------------------------------------------------


@api.group()
def subscriptions() -> None:
    """Webhooks v3 subscriptions."""


@subscriptions.command("list")
@connection(subscription=False)
@json_format
def subscriptions_list(client: ApiClient, output_format: str) -> None:
    """Every subscription of the customer."""
    subs = subs_api.list_subscriptions(client)
    emit(output_format, {"total": len(subs), "subscriptions": subs}, map(_subscription_line, subs))


def _subscription_line(sub: dict[str, Any]) -> str:
    state = "enabled " if sub.get("enabled") else "disabled"
    return (
        f"{subs_api.subscription_id_of(sub)}  {state}  {','.join(sub.get('events', []))}  "
        f"{sub.get('endpoint')}  {sub.get('title')}"
    )


@subscriptions.command("create")
@click.option(
    "--from-v2",
    "config",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="A v2 webhook description (JSON object, or an array of them); see docs/api.md.",
)
@click.option("--endpoint", help="The new v3 listener URL (the v2 callback cannot read v3 tokens).")
@click.option("--title", help="Subscription title (2-200 characters).")
@click.option("--disabled", is_flag=True, help="Create it disabled (no delivery yet).")
@click.option("--dry-run", is_flag=True, help="Show the v3 body; create nothing, call no API.")
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Create it even when a subscription with the same endpoint and filter exists.",
)
@connection(subscription=False, lazy=True)
@json_format
def subscriptions_create(
    config: Any,
    endpoint: str | None,
    title: str | None,
    disabled: bool,
    dry_run: bool,
    allow_duplicate: bool,
    connect: Callable[[], ApiClient],
    output_format: str,
) -> None:
    """Create the v3 subscription that replaces a v2 webhook.

    ADD, UPDATE and DELETE become entityCreated, entityUpdated and entityDeleted; the filter
    keeps the v2 webhook's application, entity type and watched attributes.
    """
    try:
        data = json.load(config)
    except ValueError as exc:
        raise ProblemFound(f"{config.name}: not JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    bodies = []
    for n, item in enumerate(items):
        try:
            conversion = subs_api.v3_subscription(
                subs_api.parse_v2_webhook(item),
                endpoint=endpoint,
                title=title,
                enabled=not disabled,
            )
        except subs_api.V2ConfigError as exc:
            where = f"{config.name}" + (f"[{n}]" if isinstance(data, list) else "")
            if isinstance(exc, subs_api.NoEndpoint):
                raise click.UsageError(f"{where}: {exc}") from exc
            raise ProblemFound(f"{where}: {exc}") from exc
        for warning in conversion.warnings:
            warn(warning)
        bodies.append(conversion.body)
    if dry_run:
        emit_json(bodies if isinstance(data, list) else bodies[0])
        return
    client = connect()
    placed = subs_api.create_unless_present(client, bodies, allow_duplicate=allow_duplicate)
    lines = []
    for body, p in zip(bodies, placed, strict=True):
        sid = subs_api.subscription_id_of(p.subscription)
        title = p.subscription.get("title")
        if not p.reused:
            lines.append(f"created subscription {sid}: {title}")
            continue
        warn(
            f"subscription {sid} already delivers to {body['endpoint']} with this filter: "
            "reused, nothing created (--allow-duplicate creates another, and every event "
            "would then be delivered twice)"
        )
        if body.get("enabled") and not p.subscription.get("enabled"):
            warn(f"subscription {sid} is disabled: enable it to begin delivery")
        lines.append(f"reused subscription {sid}: {title}")
    created = [p.subscription for p in placed]
    emit(output_format, created if isinstance(data, list) else created[0], lines)


# -- recover -------------------------------------------------------------------------------


@api.command("recover")
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
