"""The v2 archive's edges: what a database source's errors may show, how an interrupted import
names where it stopped, when a v2-sql import chooses bulk mode, a source key it cannot use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from test_archive import MAP, make_source, many_rows, mixed_rows, run, source_args

from migrate.archive.source import SqlSource


def _map() -> Any:
    from adapters.v2_rows import column_map

    return column_map({"uuid": "user_uuid", "datetime": "created_at", "kind": "webhook_kind"})


def test_source_errors_never_show_bound_values(tmp_path: Path) -> None:
    """A resume key (or anything bound) may be a customer's data: no error shows it."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(url, mixed_rows()[:2])
    source = SqlSource(url, "v2_hooks", columns=_map()).resolved()
    with source._connection() as conn, pytest.raises(sa.exc.DBAPIError) as caught:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE id = :x"), {"x": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(caught.value)


def test_an_interrupted_sql_import_says_rows(tmp_path: Path, monkeypatch: Any) -> None:
    """Ctrl-C after some commits: the message counts the source's rows, not a file's lines."""
    from migrate.ingest.core import Ingester

    url = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(url, many_rows(200))
    written = 0
    write = Ingester._write_batch

    def interrupting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal written
        written += 1
        if written == 4:
            raise KeyboardInterrupt
        return write(self, *args, **kwargs)

    monkeypatch.setattr(Ingester, "_write_batch", interrupting)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = ["--batch-size", "10", "--commit-every", "10", "-q"]
    result = run("ingest", *source_args(url), "--db", store, *args)
    assert result.exit_code == 130, result.output
    assert "committed through row 30 of" in result.stderr
    assert "line" not in result.stderr


def test_a_large_source_into_an_empty_store_chooses_bulk_mode(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from migrate.ingest import bulk

    url = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(url, many_rows(300))
    monkeypatch.setattr(bulk, "AUTO_ROWS", 200)
    dropped: list[int] = []
    drop = bulk.drop_secondary

    def recording(store: Any) -> None:
        dropped.append(1)
        drop(store)

    monkeypatch.setattr(bulk, "drop_secondary", recording)
    small = f"sqlite:///{tmp_path / 'small.db'}"
    query = ["--query", "SELECT * FROM v2_hooks WHERE id <= 150", "--key", "id"]
    base = ["ingest", "--from", "v2-sql", "--source", url, *MAP, "-q"]
    assert run(*base, *query, "--db", small).exit_code == 1  # some bad times
    assert dropped == []  # 150 rows: not large
    large = f"sqlite:///{tmp_path / 'large.db'}"
    assert run("ingest", *source_args(url), "--db", large, "-q").exit_code == 1
    assert dropped == [1]
    assert run(*base, *query, "--db", large).exit_code == 1  # the store has events now
    assert dropped == [1]


def test_a_composite_primary_key_is_a_one_line_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE hooks (a INTEGER, b INTEGER, user_uuid TEXT, entity_type TEXT, "
            "created_at TEXT, hash TEXT, client_id TEXT, PRIMARY KEY (a, b))"
        )
    engine.dispose()
    store = f"sqlite:///{tmp_path / 'store.db'}"
    result = run(
        "ingest", "--from", "v2-sql", "--source", f"sqlite:///{path}", "--table", "hooks",
        *MAP[:4], "--db", store,
    )  # fmt: skip
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message
    assert "--table hooks" in message
    assert "several columns" in message
    assert "--key COLUMN" in message


# -- what the loading process holds ---------------------------------------------------------------


def _raise(exc: BaseException) -> None:
    raise exc


class _Unpicklable(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def test_a_forked_call_brings_back_its_result_and_its_error() -> None:
    from migrate.errors import StoreUnavailable, UsageError
    from migrate.forked import call_forked

    assert call_forked(lambda: {"answer": 42}) == {"answer": 42}
    with pytest.raises(UsageError, match=r"^boom$") as usage:
        call_forked(lambda: _raise(UsageError("boom")))
    assert usage.value.exit_code == 2
    with pytest.raises(StoreUnavailable) as store:
        call_forked(lambda: _raise(StoreUnavailable("sqlite:///x.db", "disk I/O error")))
    assert (store.value.where, store.value.reason) == ("sqlite:///x.db", "disk I/O error")
    with pytest.raises(RuntimeError, match="_Unpicklable: a b"):
        call_forked(lambda: _raise(_Unpicklable("a", "b")))


PROBE = """
import sys
from migrate.ingest import IngestOptions, ingest_store
from migrate.kinds import V2Options
from migrate.cli.archive import archive_input
kind = sys.argv[1]
files = () if kind == "v2-sql" else (sys.argv[3],)
columns, source = archive_input(
    kind, files, mapping=("uuid=user_uuid", "datetime=created_at", "kind=webhook_kind"),
    naive_utc=False, source_url=sys.argv[3] if kind == "v2-sql" else None,
    table="v2_hooks" if kind == "v2-sql" else None, query=None, key=None,
)
options = IngestOptions(kind=kind, v2=V2Options(columns=columns), source=source)
report = ingest_store(sys.argv[2], files, options)
assert report.inserted == 4, report
print(sorted(m for m in ("alembic", "sqlalchemy", "psycopg", "pymysql") if m in sys.modules))
"""


@pytest.mark.parametrize("kind", ["v2-csv", "v2-sql"])
def test_the_loading_process_never_imports_sqlalchemy(tmp_path: Path, kind: str) -> None:
    """A new SQLite store is upgraded, and a source checked, in child processes: the process
    that writes the load holds neither Alembic nor SQLAlchemy nor a driver (~40 MiB)."""
    import subprocess
    import sys

    from test_archive import write_csv

    rows = [r for r in mixed_rows()[:6] if r["webhook_kind"]]
    if kind == "v2-sql":
        data = f"sqlite:///{tmp_path / 'source.db'}"
        make_source(data, rows)
    else:
        data = str(write_csv(tmp_path / "hooks.csv", rows))
    store = f"sqlite:///{tmp_path / 'store.db'}"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, kind, store, data], capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


@given(st.integers())
def test_an_integer_key_keeps_its_ledger_text(value: int) -> None:
    """Resume keys already in ledgers stay readable and written the same way."""
    import json

    from migrate.archive.keys import decode_key, encode_key

    assert encode_key(value) == json.dumps(["int", str(value)])
    assert decode_key(encode_key(value)) == value
