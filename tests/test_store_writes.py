"""The store-write module: the idempotent event insert and reject rows, on every backend and on
the standard-library SQLite path, with and without a file (ingest and the listener)."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from strategies import export_claims, json_scalars

from adapters.errors import Rejection
from adapters.export import event_from_export_line
from adapters.unified import UnifiedEvent
from migrate.store.engine import open_store
from migrate.store.rows import check_event, check_storable, now_text, reject_row
from migrate.store.sqlite_native import connect, sqlite_file
from migrate.store.writes import Inserted, insert_events, insert_rejects


def event(n: int) -> UnifiedEvent:
    return event_from_export_line(export_claims(n))


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(query))]
    finally:
        engine.dispose()


def stored(url: str) -> list[tuple[Any, ...]]:
    columns = "event_id, seen_count, first_file_id, first_line, signature_verified"
    return rows(url, f"SELECT {columns} FROM events ORDER BY event_id")  # noqa: S608


def rejects(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT file_id, path, line, reason, raw FROM rejects ORDER BY raw")


def a_reject() -> dict[str, Any]:
    return reject_row(
        path="POST /", pointer="", reason="json", message="m", raw="{", now=now_text()
    )


FIRST, SECOND = [event(1), event(2), event(1)], [event(3), event(2), event(1)]


def write_twice_core(url: str, *, returning: bool = True) -> tuple[Inserted, Inserted]:
    engine = open_store(url)
    if not returning:  # as on MySQL proper, which has no INSERT … RETURNING
        engine.dialect.insert_returning = False
    try:
        with engine.begin() as conn:
            first = insert_events(conn, FIRST, verified=True)
        with engine.begin() as conn:
            second = insert_events(conn, SECOND, verified=True)
            insert_rejects(conn, [a_reject()])
        return first, second
    finally:
        engine.dispose()


def write_twice_native(url: str) -> tuple[Inserted, Inserted]:
    open_store(url).dispose()
    path = sqlite_file(url)
    assert path is not None
    with contextlib.closing(connect(path)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        first = insert_events(conn, FIRST, verified=True)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        second = insert_events(conn, SECOND, verified=True)
        insert_rejects(conn, [a_reject()])
        conn.execute("COMMIT")
    return first, second


def ids(*numbers: int) -> tuple[str, ...]:
    return tuple(event(n).event_id for n in numbers)


def expect(first: Inserted, second: Inserted) -> None:
    assert first.new == tuple(sorted(ids(1, 2)))
    assert first.duplicates == ids(1)
    assert second.new == ids(3)
    assert sorted(second.duplicates) == sorted(ids(1, 2))


def test_insert_events_says_which_were_new_without_a_file(db_url: str) -> None:
    expect(*write_twice_core(db_url))
    rows = stored(db_url)
    # No file, no line, no re-sighting: a listener's events are counted once however often sent.
    assert [r[0] for r in rows] == sorted(ids(1, 2, 3))
    assert {(r[1], r[2], r[3], bool(r[4])) for r in rows} == {(1, None, None, True)}
    assert rejects(db_url) == [(None, "POST /", 0, "json", "{")]


def test_without_returning_the_new_ids_are_still_exact(db_url: str) -> None:
    expect(*write_twice_core(db_url, returning=False))
    assert [r[0] for r in stored(db_url)] == sorted(ids(1, 2, 3))


def test_the_standard_library_path_writes_what_sqlalchemy_writes(tmp_path: Any) -> None:
    core, native = f"sqlite:///{tmp_path / 'core.db'}", f"sqlite:///{tmp_path / 'native.db'}"
    expect(*write_twice_core(core))
    expect(*write_twice_native(native))
    assert stored(core) == stored(native)
    assert rejects(core) == rejects(native)
    # Whole rows, as stored (times aside): the same encoding on both paths.
    columns = "event_id, source, occurred_at, payload, audience, attributes, issued_at"
    for_each = []
    for url in (core, native):
        path = sqlite_file(url)
        assert path is not None
        with contextlib.closing(sqlite3.connect(path)) as conn:
            for_each.append(conn.execute(f"SELECT {columns} FROM events ORDER BY 1").fetchall())  # noqa: S608
    assert for_each[0] == for_each[1]


def test_an_event_the_store_cannot_keep_whole_is_refused_before_any_write() -> None:
    long = event(1)._replace(event_id="x" * 256)
    with pytest.raises(Rejection, match="event_id is 256 characters; the store keeps 255"):
        check_event(long)


def _holds_nul(value: Any) -> bool:
    """The definition, written independently of the module: any string, key or value, anywhere."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


# Text that often holds U+0000, a backslash before "u0000", or both.
_nul_prone_text = st.lists(
    st.sampled_from(["\x00", "\\u0000", "\\", "u0000", "a", "é"]), max_size=4
).map("".join)
_payloads = st.recursive(
    json_scalars | _nul_prone_text,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=3) | _nul_prone_text, children, max_size=3)
    ),
    max_leaves=8,
)


@given(_payloads)
def test_check_storable_refuses_exactly_a_payload_holding_u0000(payload: Any) -> None:
    stored = event(1)._replace(payload={"claims": payload})
    if _holds_nul(payload):
        with pytest.raises(Rejection, match="U\\+0000"):
            check_storable(stored)
    else:
        check_storable(stored)
