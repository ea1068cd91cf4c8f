"""When the client tries a request again: which requests may be retried, the back-off, and the
server's ``Retry-After``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum


class Retry(Enum):
    SAFE = "safe"  # idempotent: retry on network errors, 5xx and 429
    REFUSED = "refused"  # may have taken effect: retry only when the server refused it (429)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, the first included
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this is reported instead of slept through.
    max_retry_after: float = 300.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Exponential back-off with full jitter (attempt 1 is the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return float(ceiling * (0.5 + rng() / 2))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
