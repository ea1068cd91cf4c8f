"""The fast path for v2 archive rows (``adapters.v2_fastrows``) against the slow path
(``adapters.v2_rows.event_from_row``) over generated rows: where the fast path gives an event,
it is the slow path's event and stores the same bytes; every other row it leaves to the slow
path (so it refuses exactly what the slow path refuses, with the same reasons)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.errors import Rejection
from adapters.jsontext import json_text
from adapters.unified import UnifiedEvent
from adapters.v2_fastrows import fast_converter
from adapters.v2_rows import ColumnMap, MissingColumn, column_map, event_from_row
from migrate.ingest.copytext import copy_text_line
from migrate.kinds import V2Options, converter
from migrate.store.rows import JSON_COLUMNS, event_values
from migrate.store.writes import sqlite_event

NOW = "2024-05-06T07:08:09.123Z"
MAPPED = column_map({"uuid": "user_uuid", "datetime": "created_at", "kind": "webhook_kind"})

# -- the rows -------------------------------------------------------------------------------------

_ZONES = ["Z", "z", "+00", "-00", "+00:00", "-00:00", "+0000", "+05:30", "-23:59", "+0130"]
_ZONES += ["+24:00", "+00:60", "+00:", "+5", "", " UTC", "+05"]


@st.composite
def time_texts(draw: st.DrawFn) -> str:
    """Times spelled every way an archive (or a mistake) spells them."""
    year = draw(st.sampled_from([0, 1, 999, 1000, 1969, 2020, 2024, 9999]))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    hour, minute = draw(st.integers(0, 24)), draw(st.integers(0, 60))
    second = draw(st.integers(0, 61))
    fraction = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=12)))
    text = f"{year:04d}-{month:02d}-{day:02d}{draw(st.sampled_from('Tt '))}"
    text += f"{hour:02d}:{minute:02d}:{second:02d}"
    if fraction:
        text += "." + fraction
    text += draw(st.sampled_from(_ZONES))
    odd = draw(st.sampled_from(["", "", "", "pad", "newline", "digit"]))
    if odd == "pad":
        text = f" {text} "
    elif odd == "newline":
        text += "\n"
    elif odd == "digit":
        text = "٢" + text[1:]  # an Arabic-Indic digit: \d matches it, [0-9] does not
    return text


@st.composite
def good_time_texts(draw: st.DrawFn) -> str:
    """Valid times, in the spellings archives use (fractions of any length, any offset)."""
    low = draw(st.sampled_from([dt.datetime(1, 1, 2), dt.datetime(1000, 1, 2)]))
    when = draw(st.datetimes(low, dt.datetime(9999, 12, 30)))  # years before 1000 too
    fraction = f"{when.microsecond:06d}"[: draw(st.integers(0, 6))]
    fraction += draw(st.text("0123456789", max_size=6))
    text = f"{when.year:04d}-{when.month:02d}-{when.day:02d}{draw(st.sampled_from('Tt '))}"
    text += f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    if fraction:
        text += "." + fraction
    zones = ["Z", "z", "+00", "-00", "+00:00", "-00:00", "+0000", "+05:30", "-23:59", "+05"]
    return text + draw(st.sampled_from(zones))


_TZS = [None, dt.UTC, dt.timezone(dt.timedelta(hours=5)), dt.timezone(dt.timedelta(hours=-14))]
_TZS.append(ZoneInfo("Europe/Paris"))
datetimes = st.builds(
    lambda when, zone: when.replace(tzinfo=zone),
    st.one_of(
        st.datetimes(),
        st.sampled_from([dt.datetime.min, dt.datetime.max, dt.datetime(999, 12, 31, 23)]),
    ),
    st.sampled_from(_TZS),
)


def mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` three times in four: most rows are the usual, so the fast path is exercised."""
    return st.integers(0, 3).flatmap(lambda n: good if n else odd)


times = mostly(
    st.one_of(good_time_texts(), datetimes),
    st.one_of(time_texts(), st.none(), st.integers(), st.text(max_size=30)),
)
uuids = mostly(
    st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.uuids()),
    st.one_of(
        st.uuids().map(lambda u: str(u) + "\n"), st.none(), st.integers(), st.text(max_size=40)
    ),
)
texts = mostly(
    st.one_of(
        st.sampled_from(["user", "callback-hash", "client-1", "ü", 'a\\b\t"c\n']),
        st.text(min_size=1, max_size=12),
        st.uuids(),
    ),
    st.one_of(
        st.just(""),
        st.just("bad \ud800 surrogate"),
        st.none(),
        st.integers(),
        st.binary(max_size=4),
    ),
)
kinds = mostly(
    st.sampled_from(["add", "ADD", "Update", "delete", " DELETE ", "", "  ", None]),
    st.one_of(
        st.sampled_from(["CREATE", "ADD\n", "\uff41\uff44\uff44", "ADD\x00", "update\u00a0"]),
        st.text(max_size=8),
        st.integers(),
        st.binary(max_size=4),
    ),
)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    row = {
        "id": draw(st.integers(1, 10**6)),
        "user_uuid": draw(uuids),
        "entity_type": draw(texts),
        "created_at": draw(times),
        "hash": draw(mostly(st.just("callback-hash"), texts)),
        "client_id": draw(texts),
        "webhook_kind": draw(kinds),
        "extra": "not mapped",
    }
    if draw(st.integers(0, 60)) == 0:
        del row[draw(st.sampled_from(sorted(row)))]  # a column missing
    return row


# -- the comparison -------------------------------------------------------------------------------


def stored(event: UnifiedEvent) -> tuple[Any, ...]:
    """What the store keeps of ``event``: its SQLite row and its PostgreSQL COPY line."""
    values = event_values(event, verified=None, file_id=7, line=3, now=NOW)
    copy_values = list(values)
    try:
        for i in JSON_COLUMNS:
            if copy_values[i] is not None:
                copy_values[i] = json_text(copy_values[i])
        return sqlite_event(list(values)), copy_text_line(copy_values)
    except UnicodeError as exc:  # a lone surrogate (no reader lets one through)
        return ("unstorable", str(exc))


def slow(
    row: dict[str, Any], columns: ColumnMap, kind: Any, expected: str | None
) -> tuple[Any, ...]:
    try:
        event = event_from_row(row, columns, kind=kind, expected_hash=expected)
    except Rejection as rejection:
        return ("rejected", rejection.reason, rejection.pointer, rejection.message)
    except Exception as exc:  # the slow path's own failures: the fast path must not hide them
        return ("failed", type(exc), str(exc))
    return ("event", event, list(event.payload), stored(event))


@settings(max_examples=3000, deadline=None)
@given(
    row=rows(),
    mapped=st.booleans(),
    naive_utc=st.booleans(),
    kind=st.sampled_from([None, "ADD", "UPDATE", "DELETE"]),
    expected=st.sampled_from([None, "callback-hash", "other"]),
)
@example(
    row={
        "user_uuid": "c4ca4238-a0b9-2382-0dcc-509a6f75849b",
        "entity_type": "user",
        "created_at": "2020-01-01 00:00:01.379+00",
        "hash": "callback-hash",
        "client_id": "client-1",
        "webhook_kind": "update",
    },
    mapped=True,
    naive_utc=False,
    kind=None,
    expected=None,
)
def test_the_fast_path_is_the_slow_path(
    row: dict[str, Any], mapped: bool, naive_utc: bool, kind: Any, expected: str | None
) -> None:
    columns = MAPPED if mapped else column_map({}, naive_utc=naive_utc)
    if mapped and naive_utc:
        columns = column_map(
            {"uuid": "user_uuid", "datetime": "created_at", "kind": "webhook_kind"},
            naive_utc=True,
        )
    if not mapped:  # the v2 field names themselves
        row = {
            {"user_uuid": "uuid", "created_at": "datetime", "webhook_kind": "kind"}.get(k, k): v
            for k, v in row.items()
        }
    expect = slow(row, columns, kind, expected)
    fast = fast_converter(columns, kind=kind, expected_hash=expected)(row)
    if fast is not None:
        assert expect[0] == "event", expect
        _, event, order, rows_stored = expect
        assert fast == event
        assert list(fast.payload) == order
        assert [type(v) for v in fast] == [type(v) for v in event]
        assert stored(fast) == rows_stored
    try:
        columns.check_columns(list(row))
    except MissingColumn:
        return  # ingest's converter refuses the first row (a usage error)
    # What ingest runs (the fast path, else the slow one) is the slow path's outcome.
    options = V2Options(kind=kind, expected_hash=expected, columns=columns)
    convert = converter("v2-csv", options)
    try:
        got: tuple[Any, ...] = ("event", convert(row))
    except Rejection as rejection:
        got = ("rejected", rejection.reason, rejection.pointer, rejection.message)
    except Exception as exc:
        got = ("failed", type(exc), str(exc))
    if expect[0] == "event":
        assert got[0] == "event"
        assert stored(got[1]) == expect[3]
    elif expect[0] == "rejected":
        assert got == expect
    else:
        assert got == expect


def test_the_usual_rows_take_the_fast_path() -> None:
    """Rows as archives hold them: text times PostgreSQL's COPY wrote, RFC 3339 ones, zoned
    database timestamps, UUID columns, kinds in any case."""
    fast = fast_converter(MAPPED)
    base = {
        "user_uuid": "c4ca4238-a0b9-2382-0dcc-509a6f75849b",
        "entity_type": "user",
        "hash": "h",
        "client_id": "c",
        "webhook_kind": "Delete",
    }
    paris = dt.datetime(2020, 1, 27, 17, 53, 50, 739000, tzinfo=ZoneInfo("Europe/Paris"))
    for when in (
        "2020-01-01 00:00:01.379+00",
        "2020-01-27T16:53:50.739Z",
        "2020-01-27T17:53:50.7391234+01:00",
        "2020-01-27T16:53:50-0000",
        dt.datetime(2020, 1, 27, 16, 53, 50, tzinfo=dt.UTC),
        paris,
    ):
        for uid in (base["user_uuid"], uuid.UUID(base["user_uuid"])):
            row = base | {"created_at": when, "user_uuid": uid}
            event = fast(row)
            assert event is not None, row
            assert event == event_from_row(row, MAPPED)
    assert fast(base | {"created_at": "2020-01-27T16:53:50"}) is None  # zone-less: the slow path
