"""The checks about the outside: endpoint, subscriptions and summary (the last two ask the API)."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from migrate.checklist.context import Context
from migrate.checklist.model import FAIL, PASS, SKIP, Check
from migrate.store import settings as store_settings
from migrate.store.models import Event

PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".corp", ".test")


def endpoint_of(ctx: Context) -> str | None:
    """``--endpoint`` / ``endpoint``, else the listener's ``--audience`` the store recorded."""
    if ctx.settings.endpoint:
        return ctx.settings.endpoint
    if ctx.store_ready and ctx.engine is not None:
        return store_settings.get(ctx.engine, store_settings.LISTENER_AUDIENCE)
    return None


def public_host_problem(host: str) -> str | None:
    """Why ``host`` is not reachable from Identity Cloud, or ``None`` if it looks public."""
    name = host.rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        if name == "localhost" or name.endswith(PRIVATE_SUFFIXES):
            return f"{host} is a local name"
        if "." not in name:
            return f"{host} is a single-label name, not resolvable from the internet"
        return None
    if not address.is_global:
        return f"{host} is a private, loopback or reserved address"
    return None


def check_endpoint(ctx: Context) -> Check:
    url = endpoint_of(ctx)
    if not url:
        return Check(
            "endpoint",
            FAIL,
            "no listener URL known: pass --endpoint (or endpoint in webhooks-migrate.toml), "
            "or run `webhooks-migrate serve --audience URL`, which records it",
        )
    parts = urlsplit(url)
    if parts.scheme != "https":
        return Check(
            "endpoint",
            FAIL,
            f"{url} is not HTTPS: Identity Cloud delivers v3 events to https:// endpoints only; "
            "serve with --tls-cert/--tls-key or behind a TLS reverse proxy",
        )
    problem = public_host_problem(parts.hostname or "")
    if problem:
        return Check("endpoint", FAIL, f"{url}: {problem}; give the listener a public DNS name")
    return Check("endpoint", PASS, f"{url}")


def _skip_without_api(name: str, ctx: Context) -> Check | None:
    if ctx.api is None:
        return Check(name, SKIP, f"the API is not configured: {ctx.api_missing}")
    return None


def _v2_kinds(ctx: Context) -> set[str]:
    if not ctx.store_ready:
        return set()
    with ctx.connect() as conn:
        rows = conn.execute(
            select(Event.event_type)
            .where(Event.source == "v2", Event.event_type.is_not(None))
            .distinct()
        ).scalars()
        return {r for r in rows if r}


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def check_subscriptions(ctx: Context) -> Check:
    skipped = _skip_without_api("subscriptions", ctx)
    if skipped:
        return skipped
    from migrate.api import subscriptions as subs
    from migrate.api.errors import ApiError

    endpoint = endpoint_of(ctx)
    try:
        client = ctx.client()
        wanted = ctx.settings.subscription_id
        found: list[dict[str, Any]]
        if wanted:
            found = [subs.get_subscription(client, wanted)]
        else:
            every = subs.list_subscriptions(client)
            found = [s for s in every if endpoint and _same_url(str(s.get("endpoint")), endpoint)]
    except ApiError as exc:
        return Check("subscriptions", FAIL, f"{ctx.scrub(exc)}; check the API options")
    if not found:
        return Check(
            "subscriptions",
            FAIL,
            f"no v3 subscription points at {endpoint or 'the listener'}: create one with "
            "`webhooks-migrate api subscriptions create --from-v2 CONFIG --endpoint URL`",
        )
    enabled = [s for s in found if s.get("enabled")]
    name = subs.subscription_id_of(found[0])
    if not enabled:
        return Check(
            "subscriptions",
            FAIL,
            f"subscription {name} is disabled: enable it (PATCH enabled=true), or nothing "
            "is delivered",
        )
    sub = enabled[0]
    name = subs.subscription_id_of(sub)
    if endpoint and not _same_url(str(sub.get("endpoint")), endpoint):
        return Check(
            "subscriptions",
            FAIL,
            f"subscription {name} delivers to {sub.get('endpoint')}, not to {endpoint}: "
            "update its endpoint",
        )
    events = set(sub.get("events") or [])
    uncovered = sorted(_v2_kinds(ctx) - events)
    if uncovered:
        return Check(
            "subscriptions",
            FAIL,
            f"subscription {name} does not subscribe to {', '.join(uncovered)}, which v2 "
            "delivered: add them to its events",
        )
    return Check(
        "subscriptions",
        PASS,
        f"subscription {name} is enabled, delivers to {sub.get('endpoint')}, "
        f"events {', '.join(sorted(events))}",
    )


def check_summary(ctx: Context) -> Check:
    skipped = _skip_without_api("summary", ctx)
    if skipped:
        return skipped
    from migrate.api import subscriptions as subs
    from migrate.api.errors import ApiError
    from migrate.api.events import get_summary

    try:
        client = ctx.client()
        sid = ctx.settings.subscription_id
        if not sid:
            endpoint = endpoint_of(ctx)
            every = subs.list_subscriptions(client)
            ids = [
                subs.subscription_id_of(s)
                for s in every
                if endpoint and _same_url(str(s.get("endpoint")), endpoint)
            ]
            sid = next((i for i in ids if i), None)
        if not sid:
            return Check(
                "summary",
                SKIP,
                "no subscription to ask: give --subscription-id (or fix the subscriptions check)",
            )
        summary = get_summary(client, sid)
    except ApiError as exc:
        return Check("summary", FAIL, f"{ctx.scrub(exc)}; check the API options")
    problems = summary.invariant_problems()
    if summary.exportable:
        return Check(
            "summary",
            FAIL,
            f"{summary.exportable:,} failed event(s) are still exportable (summary of "
            f"{summary.updated_at}): run `webhooks-migrate api recover` to export and ingest "
            "them before they expire",
        )
    if problems:
        return Check(
            "summary",
            FAIL,
            f"the summary's counts do not add up ({'; '.join(problems)}); it is refreshed at "
            "most daily: look again later or ask support",
        )
    return Check(
        "summary",
        PASS,
        f"{summary.total:,} event(s) in 7 days: {summary.succeeded:,} succeeded, "
        f"{summary.retrying:,} retrying, {summary.failed:,} failed, none exportable",
    )
