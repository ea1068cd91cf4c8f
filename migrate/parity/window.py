"""Which events parity counts: ``--since``/``--until``, ``--min-age`` and the default window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.timefmt import parse_rfc3339

DEFAULT_TOLERANCE_S = 120.0
DEFAULT_MIN_AGE_S = 600.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``7d``, ``2w`` or a sum such as ``1h30m``."""
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration like 24h or 90m: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNIT_S[u] for n, u in parts))


def parse_moment(text: str, now: datetime) -> datetime:
    """An RFC 3339 timestamp, or a duration meaning that long before ``now``."""
    if text.strip()[:1].isdigit() and ("-" in text or ":" in text):
        return parse_rfc3339(text.strip())
    try:
        return now - parse_duration(text)
    except ValueError:
        raise ValueError(
            f"not an RFC 3339 time or a duration like 24h: {text!r}"
            " (e.g. 2026-12-01T00:00:00Z, 90m, 7d)"
        ) from None


@dataclass(frozen=True)
class Window:
    """Events with ``start <= occurred_at <= end`` count (``end`` is never after the cutoff)."""

    start: datetime
    end: datetime

    @property
    def empty(self) -> bool:
        return self.start > self.end


@dataclass(frozen=True)
class Bounds:
    """First and last ``occurred_at`` of each stream among events old enough to count."""

    v2: tuple[datetime, datetime] | None
    v3: tuple[datetime, datetime] | None


def choose_window(
    bounds: Bounds,
    *,
    cutoff: datetime,
    tolerance: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Window:
    """The window parity counts in.

    By default it runs from the later of the two streams' first events to the earlier of their
    last events, widened by ``tolerance`` at both ends so that a pair at an edge is not cut in
    half. When one stream has no event at all, the other's range is the window (every one of
    its events is then unpaired, which is what the user must see). ``since``/``until`` replace
    either end; nothing after ``cutoff`` (now minus ``--min-age``) ever counts.
    """
    ranges = [r for r in (bounds.v2, bounds.v3) if r is not None]
    if ranges:
        default_start = max(r[0] for r in ranges) - tolerance
        default_end = min(r[1] for r in ranges) + tolerance
    else:
        default_start, default_end = cutoff, cutoff
    start = since if since is not None else default_start
    end = until if until is not None else default_end
    return Window(start.astimezone(UTC), min(end, cutoff).astimezone(UTC))
