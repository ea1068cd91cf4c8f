"""The SQLite writer's one-step row encoding (``writes.sqlite_event_row``) is the generic one
(``sqlite_event(event_values(...))``) for every kind of event."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import events_records, v2_notifications, v3_claims

from adapters.errors import Rejection
from adapters.events_store import event_from_record
from adapters.export import event_from_export_line
from adapters.unified import UnifiedEvent
from adapters.v2 import event_from_v2
from migrate.store.rows import event_values
from migrate.store.writes import sqlite_event, sqlite_event_row


def _event(kind: str, value: Any) -> UnifiedEvent | None:
    try:
        if kind == "v2":
            return event_from_v2(value, kind="ADD")
        if kind == "export":
            return event_from_export_line(value)
        return event_from_record(value)
    except Rejection:
        return None


events = st.one_of(
    v2_notifications().map(lambda pair: _event("v2", pair[0])),
    v3_claims().map(lambda claims: _event("export", claims)),
    events_records().map(lambda pair: _event("events", pair[0])),
)


@settings(max_examples=400, deadline=None)
@given(
    event=events,
    verified=st.sampled_from([None, True, False]),
    file_id=st.one_of(st.none(), st.integers(1, 10**6)),
    line=st.one_of(st.none(), st.integers(1, 10**9)),
    now=st.sampled_from(["2024-05-06T07:08:09.123Z", "0999-01-02T03:04:05.000Z"]),
)
def test_one_step_is_the_generic_encoding(
    event: UnifiedEvent | None, verified: bool | None, file_id: int | None, line: int | None,
    now: str,
) -> None:  # fmt: skip
    if event is None:
        return
    kwargs: dict[str, Any] = {"verified": verified, "file_id": file_id, "line": line, "now": now}
    try:
        generic: Any = sqlite_event(event_values(event, **kwargs))
    except Rejection as rejection:
        generic = ("rejected", rejection.reason, rejection.message)
    try:
        fused: Any = sqlite_event_row(event, **kwargs)
    except Rejection as rejection:
        fused = ("rejected", rejection.reason, rejection.message)
    assert fused == generic
    assert [type(v) for v in fused] == [type(v) for v in generic]


@pytest.mark.parametrize("one_step", [False, True])
def test_a_value_too_long_is_refused_the_same(one_step: bool) -> None:
    event = UnifiedEvent("x" * 256, "v3", "2024-05-06T07:08:09.123Z", {"a": 1})
    now = "2024-05-06T07:08:09.123Z"
    kwargs: dict[str, Any] = {"verified": None, "file_id": 1, "line": 1, "now": now}
    encode = sqlite_event_row if one_step else lambda e, **kw: sqlite_event(event_values(e, **kw))
    with pytest.raises(Rejection, match="event_id is 256 characters"):
        encode(event, **kwargs)
