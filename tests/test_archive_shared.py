"""A PostgreSQL v2-sql source read by two producers in one exported snapshot: each gets only the
rows of its own batches, numbered by the server; together they read every row once, as one
reader would, and a row committed after the snapshot is seen by neither."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from test_archive import (
    _map,
    checksum,
    killed_after_commits,
    ledger,
    make_source,
    many_rows,
    rejects,
    report,
    run,
    source_args,
    stored,
)

from migrate.archive.snapshot import shared_snapshot
from migrate.archive.source import Share, SqlSource
from migrate.errors import UsageError
from migrate.store.engine import normalize_url


def read(
    source: SqlSource, share: Share | None = None, after: str | None = None, first: int = 1
) -> list[tuple[int, str | None, bytes]]:
    with source.records(after, first, share) as (records, _):
        return [(r.line, r.key, r.raw) for r in records]


def test_shares_of_one_snapshot_add_up_to_one_read(postgres_source_url: str) -> None:
    count = 700
    make_source(postgres_source_url, many_rows(count))
    source = SqlSource(postgres_source_url, "v2_hooks", columns=_map()).resolved()
    assert source.shareable
    whole = read(source)
    assert [line for line, _, _ in whole] == list(range(1, count + 1))
    engine = sa.create_engine(normalize_url(postgres_source_url))
    with shared_snapshot(source) as shared:
        with engine.begin() as conn:  # committed after the snapshot: no share may see it
            conn.execute(
                sa.text("INSERT INTO v2_hooks (id, user_uuid) VALUES (:id, 'late')"),
                {"id": count + 1},
            )
        for producers, batch_rows in ((2, 1), (2, 7), (3, 50), (2, 1000)):
            shares = [read(shared, Share(k, producers, batch_rows)) for k in range(producers)]
            for k, rows in enumerate(shares):
                assert all((line - 1) // batch_rows % producers == k for line, _, _ in rows)
            assert sorted(row for rows in shares for row in rows) == whole
        # resumed after row 100: lines go on from 101, the batches counted from there
        after = whole[99][1]
        resumed = [read(shared, Share(k, 2, 30), after, 101) for k in range(2)]
        assert sorted(row for rows in resumed for row in rows) == whole[100:]
        assert resumed[0][0][0] == 101
        assert resumed[1][0][0] == 131
    engine.dispose()
    with pytest.raises(RuntimeError, match="shared snapshot"):
        read(source, Share(0, 2, 10))  # a share outside a snapshot could miss rows


def test_a_key_repeated_across_a_batch_boundary_is_refused(postgres_source_url: str) -> None:
    make_source(postgres_source_url, many_rows(10))
    # k repeats at rows 3 and 4: the last row of producer 0's first batch, the first of 1's
    query = "SELECT v2_hooks.*, CASE WHEN id = 4 THEN 3 ELSE id END AS k FROM v2_hooks"
    source = SqlSource(postgres_source_url, query=query, key="k", columns=_map()).resolved()
    with shared_snapshot(source) as shared:
        assert len(read(shared, Share(0, 2, 3))) == 6  # rows 1-3 and 7-9: no repeat of its own
        with pytest.raises(UsageError, match="k 3 appears twice"):
            read(shared, Share(1, 2, 3))


def test_a_snapshot_that_cannot_be_exported_is_unavailable(tmp_path: Path) -> None:
    from migrate.errors import Unavailable

    source = SqlSource("postgresql+psycopg://nobody@127.0.0.1:1/none", "v2_hooks", key="id")
    with pytest.raises(Unavailable), shared_snapshot(source):
        pass


def test_two_producers_load_what_one_loads(tmp_path: Path, postgres_source_url: str) -> None:
    """A PostgreSQL source (two producers, a share each) against the same rows in SQLite (one)."""
    rows = many_rows(3000)
    make_source(postgres_source_url, rows)
    one = f"sqlite:///{tmp_path / 'source.db'}"
    make_source(one, rows)
    before = checksum(postgres_source_url)
    results = {}
    for name, source in (("one", one), ("two", postgres_source_url)):
        store = f"sqlite:///{tmp_path / (name + '.db')}"
        args = ["ingest", *source_args(source), "--db", store, "--batch-size", "50"]
        results[name] = (store, report(run(*args, "--format", "json")))
    (one_store, one_report), (two_store, two_report) = results["one"], results["two"]
    counts = ("read", "inserted", "duplicates", "conflicts", "rejected")
    assert [two_report[c] for c in counts] == [one_report[c] for c in counts]
    assert two_report["read"] == 3000
    assert stored(two_store) == stored(one_store)
    assert [r[1:] for r in rejects(two_store)] == [r[1:] for r in rejects(one_store)]
    assert checksum(postgres_source_url) == before


def test_kill_and_resume_with_two_producers_is_exact(
    tmp_path: Path, postgres_source_url: str
) -> None:
    count = 4000
    make_source(postgres_source_url, many_rows(count))
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    assert run("ingest", *source_args(postgres_source_url), "--db", clean).exit_code == 1
    store = f"sqlite:///{tmp_path / 'store.db'}"
    killed = killed_after_commits(postgres_source_url, store, count)
    resumed = run("ingest", *source_args(postgres_source_url), "--db", store, "--format", "json")
    files = report(resumed)["files"]
    assert files[0]["resumed_from_line"] >= killed[1]
    assert files[0]["read"] == count
    assert stored(store) == stored(clean)
    assert [r[1:] for r in rejects(store)] == [r[1:] for r in rejects(clean)]
    clean_ledger = ledger(clean)
    assert clean_ledger is not None
    assert ledger(store) == ("completed", count, clean_ledger[2])
