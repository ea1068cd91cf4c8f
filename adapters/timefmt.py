"""Timestamps: strict RFC 3339 parsing, epoch conversion, and the unified millisecond format."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# toe is epoch seconds in most examples and epoch milliseconds in the events-store one
# (1580144030739). 1e11 seconds is the year 5138, 1e11 milliseconds is March 1973: any real
# value is unambiguous on one side of this line.
MILLISECONDS_THRESHOLD = 100_000_000_000


def parse_rfc3339(text: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp that names its offset; return it in UTC.

    Fractions of any length are accepted (the events store sends nanoseconds); digits beyond
    microseconds are dropped. A timestamp without ``Z`` or an offset is refused as ambiguous.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp with a UTC offset: {text[:64]!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    fraction = m.group(7) or ""
    micro = int((fraction + "000000")[:6])
    leap = second == 60  # RFC 3339 allows a leap second; datetime does not.
    try:
        dt = datetime(year, month, day, hour, minute, 59 if leap else second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"impossible date or time in {text[:64]!r}: {exc}") from None
    offset = timedelta(0)
    if m.group(9):
        hours, minutes = int(m.group(10)), int(m.group(11))
        if hours > 23 or minutes > 59:
            raise ValueError(f"UTC offset out of range in {text[:64]!r}")
        offset = timedelta(hours=hours, minutes=minutes)
    try:
        if leap:
            dt += timedelta(seconds=1)
        return dt - offset if m.group(9) == "+" else dt + offset
    except OverflowError:  # 0001-01-01T00:00:00+01:00, 9999-12-31T23:59:60Z: not a datetime
        raise ValueError(f"outside the years 1 to 9999 in UTC: {text[:64]!r}") from None


def format_ms(dt: datetime) -> str:
    """The unified format: UTC, millisecond precision (truncated), ``Z``."""
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
        f"T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def format_us(dt: datetime) -> str:
    """UTC with microseconds: the canonical form used where identity must not lose precision."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"


def normalize_rfc3339(text: str) -> str:
    return format_ms(parse_rfc3339(text))


def from_epoch(value: int | float, *, milliseconds: bool = False) -> datetime:
    """Epoch seconds (or milliseconds) to a UTC datetime, exact for integers."""
    try:
        if milliseconds:
            return _EPOCH + timedelta(milliseconds=value)
        return _EPOCH + timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"epoch time out of range: {value!r}") from None


def epoch_text(value: int | float, *, milliseconds: bool = False) -> str:
    """Epoch seconds (or milliseconds) straight to the unified format.

    Integers, which is what real tokens carry, take a path about twice as fast as building a
    datetime; fractional values go through :func:`from_epoch`.
    """
    if value.__class__ is int:
        seconds, millis = divmod(value, 1000) if milliseconds else (value, 0)
        if 0 <= seconds < 253402300800:  # up to 9999-12-31T23:59:59Z, as datetime allows
            t = time.gmtime(seconds)
            return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (*t[:6], millis)  # noqa: UP031
    return format_ms(from_epoch(value, milliseconds=milliseconds))


def event_time_text(value: int | float) -> str:
    """``toe`` in the unified format: seconds, or milliseconds when the number is that large."""
    return epoch_text(value, milliseconds=abs(value) >= MILLISECONDS_THRESHOLD)


def event_time(value: int | float) -> datetime:
    """``toe``: seconds, or milliseconds when the number is that large."""
    return from_epoch(value, milliseconds=abs(value) >= MILLISECONDS_THRESHOLD)
