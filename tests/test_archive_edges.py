"""The v2 archive's edges: what a database source's errors may show, how an interrupted import
names where it stopped, when a v2-sql import chooses bulk mode, a source key it cannot use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
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
