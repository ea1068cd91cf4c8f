"""``checklist``: every check, in order, into one verdict."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from migrate.checklist.api_checks import check_endpoint, check_subscriptions, check_summary
from migrate.checklist.config import ChecklistSettings
from migrate.checklist.context import Context
from migrate.checklist.model import ORDER, Check, Verdict
from migrate.checklist.store_checks import (
    check_exports,
    check_parity,
    check_receipt,
    check_rejects,
    check_signatures,
    check_store,
)

CHECKS: dict[str, Callable[[Context], Check]] = {
    "store": check_store,
    "endpoint": check_endpoint,
    "subscriptions": check_subscriptions,
    "receipt": check_receipt,
    "signatures": check_signatures,
    "rejects": check_rejects,
    "parity": check_parity,
    "summary": check_summary,
    "exports": check_exports,
}
assert tuple(CHECKS) == ORDER


def _open_store(ctx: Context, db_url: str) -> None:
    from sqlalchemy import exc

    from migrate.errors import BadStoreUrl, StoreUnavailable
    from migrate.store import open_store, safe_url
    from migrate.store.revision import at_head

    ctx.store_name = safe_url(db_url)
    try:
        ctx.engine = open_store(db_url, upgrade=False)
        ctx.store_ready = at_head(ctx.engine)
    except StoreUnavailable as error:
        ctx.store_error = str(error)
    except (BadStoreUrl, exc.ArgumentError, exc.NoSuchModuleError) as error:
        ctx.store_error = f"not a usable store URL {ctx.store_name}: {error}"


def _configure_api(ctx: Context, env: Mapping[str, str]) -> None:
    from migrate.api.auth import credentials_from_env
    from migrate.api.client import DEFAULT_BASE_URL, ApiClient, ApiSettings
    from migrate.api.errors import ApiConfigError

    s = ctx.settings
    try:
        credentials = credentials_from_env(env)
    except ApiConfigError as error:
        ctx.api_missing = str(error)
        return
    if not s.customer_id:
        ctx.api_missing = "no customer id (--customer-id or WEBHOOKS_MIGRATE_CUSTOMER_ID)"
        return
    base_url, customer_id = s.base_url or DEFAULT_BASE_URL, s.customer_id
    ctx.secrets = tuple(credentials.secret_values())

    def connect() -> ApiClient:
        return ApiClient(ApiSettings(base_url, customer_id), credentials)

    ctx.api = connect


def run_checklist(
    db_url: str,
    settings: ChecklistSettings,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Run every check against the store at ``db_url`` (and the API, when configured)."""
    ctx = Context(settings=settings, now=now or datetime.now(UTC))
    _open_store(ctx, db_url)
    _configure_api(ctx, os.environ if env is None else env)
    try:
        checks = tuple(CHECKS[name](ctx) for name in ORDER)
    finally:
        if ctx.engine is not None:
            ctx.engine.dispose()
    return Verdict(checks, strict=settings.strict)
