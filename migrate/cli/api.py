"""``api``: the Identity Cloud Webhooks v3 API (summary, exports, events, subscriptions, recover).

Commands only parse options, call :mod:`migrate.api` and print. Credentials come from the
environment (see :mod:`migrate.api.auth`), never from flags.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from migrate.api import events as events_api
from migrate.api import subscriptions as subs_api
from migrate.api.client import ApiClient
from migrate.api.models import Summary
from migrate.cli.api_exports import exports, recover_command
from migrate.cli.base import (
    connection,
    emit,
    emit_json,
    json_format,
    opened_store,
    store_options,
    warn,
)
from migrate.defaults import BASE_URL_ENV as BASE_URL_ENV  # re-exported for the simulator
from migrate.defaults import CUSTOMER_ENV as CUSTOMER_ENV
from migrate.defaults import SUBSCRIPTION_ENV as SUBSCRIPTION_ENV
from migrate.errors import ProblemFound


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
def events() -> None:
    """The events store: every event of the last 7 days with its delivery state."""


@events.command("list")
@connection()
@click.option("--state", help="Only events in this state (success, retrying, failure, ...).")
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
@connection(subscription=False, lazy=True)
@json_format
def subscriptions_create(
    config: Any,
    endpoint: str | None,
    title: str | None,
    disabled: bool,
    dry_run: bool,
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
            raise ProblemFound(f"{where}: {exc}") from exc
        for warning in conversion.warnings:
            warn(warning)
        bodies.append(conversion.body)
    if dry_run:
        emit_json(bodies if isinstance(data, list) else bodies[0])
        return
    client = connect()
    created = [subs_api.create_subscription(client, body) for body in bodies]
    lines = (
        f"created subscription {subs_api.subscription_id_of(s)}: {s.get('title')}" for s in created
    )
    emit(output_format, created if isinstance(data, list) else created[0], lines)


# -- recover -------------------------------------------------------------------------------


# Exports and the recover loop live in their own module (migrate.cli.api_exports).
api.add_command(exports)
api.add_command(recover_command)
