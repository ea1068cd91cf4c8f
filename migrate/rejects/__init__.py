"""What was refused: look at it, re-run it after a fix, or accept it as lost on purpose."""

from __future__ import annotations

from migrate.rejects.records import (
    ACCEPTED,
    RETRIED,
    RejectRecord,
    Resolved,
    count_unresolved,
    get_reject,
    list_rejects,
    resolve_rejects,
)
from migrate.rejects.retry import RetryOptions, RetryOutcome, retry_rejects

__all__ = [
    "ACCEPTED",
    "RETRIED",
    "RejectRecord",
    "Resolved",
    "RetryOptions",
    "RetryOutcome",
    "count_unresolved",
    "get_reject",
    "list_rejects",
    "resolve_rejects",
    "retry_rejects",
]
