"""The shipped Alembic migrations: up, down, up again, and agreement with the models."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrate import store
from migrate.store.migrations import ALEMBIC_DIR
from migrate.store.models import Base

STORE_TABLES = {"events", "ingest_files", "rejects", "deliveries", "summaries"}
REPO = Path(__file__).resolve().parent.parent


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def models_with(change: Callable[[sa.MetaData], None]) -> sa.MetaData:
    """A copy of the models' metadata with one change: a model that drifted."""
    copy = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(copy)
    change(copy)
    return copy


def test_upgrade_check_downgrade_upgrade(db_engine: sa.Engine) -> None:
    assert store.current(db_engine) is None

    store.upgrade(db_engine)
    assert store.current(db_engine) == store.head()
    assert tables(db_engine) >= STORE_TABLES
    assert store.check(db_engine) == []

    store.downgrade(db_engine, "base")
    assert store.current(db_engine) is None
    assert tables(db_engine) - {"alembic_version"} == set()

    store.upgrade(db_engine, "head")
    assert store.current(db_engine) == store.head()
    assert store.check(db_engine) == []


def test_check_reports_a_column_the_migrations_lack(db_engine: sa.Engine) -> None:
    store.upgrade(db_engine)
    drifted = models_with(
        lambda md: md.tables["events"].append_column(sa.Column("extra", sa.Integer))
    )
    assert store.check(db_engine, drifted) == [
        "column events.extra (INTEGER) is in the models but not in the database"
    ]


def test_check_reports_a_changed_type_and_a_missing_table(db_engine: sa.Engine) -> None:
    store.upgrade(db_engine)

    def change(md: sa.MetaData) -> None:
        md.tables["events"].c.event_id.type = sa.String(100)
        md.remove(md.tables["summaries"])

    differences = store.check(db_engine, models_with(change))
    assert (
        "column events.event_id: type is VARCHAR(255) in the database, VARCHAR(100) in the models"
        in differences
    )
    assert "table summaries is in the database but not in the models" in differences
    # Alembic also names the dropped table's index; nothing else differs.
    assert all("event_id" in d or "summaries" in d for d in differences)


def test_check_reports_a_unique_key_the_models_dropped(db_engine: sa.Engine) -> None:
    store.upgrade(db_engine)

    def change(md: sa.MetaData) -> None:
        events = md.tables["events"]
        (unique,) = [c for c in events.constraints if c.name == "uq_events_event_id"]
        events.constraints.remove(unique)

    # MariaDB reports a unique key as an index, the others as a constraint.
    assert store.check(db_engine, models_with(change)) in (
        [f"{what} uq_events_event_id on events(event_id) is in the database but not in the models"]
        for what in ("constraint", "index")
    )


def test_check_notices_timestamps_that_would_lose_their_fractions(db_engine: sa.Engine) -> None:
    """MySQL's DATETIME without fsp=6 truncates to the second; Alembic alone does not see it."""
    store.upgrade(db_engine)

    def change(md: sa.MetaData) -> None:
        md.tables["events"].c.occurred_at.type = sa.DateTime()

    differences = store.check(db_engine, models_with(change))
    if db_engine.dialect.name == "sqlite":  # both are DATETIME text there: nothing is lost
        assert differences == []
    else:
        assert len(differences) == 1
        assert differences[0].startswith("column events.occurred_at: type is ")


def test_check_refuses_to_compare_a_database_behind_head(db_engine: sa.Engine) -> None:
    differences = store.check(db_engine)
    assert len(differences) == 1
    assert "not at head" in differences[0]
    assert tables(db_engine) == set()  # check only reads


UPGRADE_WHEN_TOLD = """
import sys
from migrate import store
print("ready", flush=True)
sys.stdin.readline()
store.upgrade(sys.argv[1])
"""


def test_concurrent_first_upgrades_do_not_collide(db_url: str) -> None:
    """Processes started together on a fresh store (a listener and an ingest) all find it ready.

    The database's migration lock serialises them; without it they race to create the tables.
    """
    children = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_WHEN_TOLD, db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for child in children:  # every process has imported everything: start them together
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], results
    assert store.current(db_url) == store.head()
    assert store.check(db_url) == []


def test_upgrades_from_threads_of_one_process_take_turns(sqlite_url: str) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            store.upgrade(sqlite_url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert store.current(sqlite_url) == store.head()


def test_history_lists_revisions_oldest_first_ending_at_head() -> None:
    revisions = store.revisions()
    assert revisions[0].down_revision is None
    assert revisions[-1].revision == store.head()
    assert [r.is_head for r in revisions] == [False] * (len(revisions) - 1) + [True]
    for older, newer in itertools.pairwise(revisions):
        assert newer.down_revision == older.revision
    lines = store.history()
    assert len(lines) == len(revisions)
    assert lines[0].startswith(f"<base> -> {revisions[0].revision}")
    assert lines[-1].endswith(f"{store.head()} (head), {revisions[-1].doc}")


def test_the_plain_alembic_command_works_with_the_shipped_ini(sqlite_url: str) -> None:
    alembic = Path(sys.executable).parent / "alembic"
    ini = Path(store.__file__).parent / "alembic.ini"
    env = {**os.environ, "WEBHOOKS_MIGRATE_DB": sqlite_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(alembic), "-c", str(ini), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    upgraded = run("upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert store.current(sqlite_url) == store.head()
    assert store.check(sqlite_url) == []

    shown = run("current")
    assert shown.returncode == 0, shown.stderr
    assert f"{store.head()} (head)" in shown.stdout

    checked = run("check")
    assert checked.returncode == 0, checked.stderr + checked.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=300,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_carries_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        "migrate/store/alembic.ini",
        "migrate/store/alembic/env.py",
        "migrate/store/alembic/script.py.mako",
    }
    shipped |= {
        f"migrate/store/alembic/versions/{p.name}" for p in (ALEMBIC_DIR / "versions").glob("*.py")
    }
    assert len(shipped) > 3
    assert shipped <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_light_head_check_agrees_with_alembic(tmp_path: Path) -> None:
    """open_store decides "already at head" without Alembic; it must read the same head."""
    from migrate.store import head, make_engine, upgrade
    from migrate.store.revision import at_head, shipped_head, stored_revision

    assert shipped_head() == head()
    engine = make_engine(f"sqlite:///{tmp_path / 'light.db'}")
    try:
        assert stored_revision(engine) is None
        assert not at_head(engine)
        upgrade(engine)
        assert at_head(engine)
    finally:
        engine.dispose()
