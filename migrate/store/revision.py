"""Is the store at the newest revision? Answered without importing Alembic.

Opening an up-to-date store is the common case (every ``ingest``, every ``api`` call); loading
Alembic just to learn that nothing needs doing costs a sixth of a second and 12 MB. The shipped
head is read from the revision files; Alembic is still what upgrades, and a test checks that
both agree on the head.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.store.sqlite_native import VERSION_TABLE

if TYPE_CHECKING:
    import sqlalchemy as sa

VERSIONS_DIR = Path(__file__).resolve().parent / "alembic" / "versions"


def _assignment(module: ast.Module, name: str) -> object:
    """The literal value of ``name = ...`` (or ``name: T = ...``) at a module's top level."""
    for node in module.body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    raise ValueError(f"no {name} in a revision file")


@cache
def shipped_head() -> str:
    """The one revision no other revision names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        module = ast.parse(path.read_text(encoding="utf-8"))
        revision = _assignment(module, "revision")
        down = _assignment(module, "down_revision")
        assert isinstance(revision, str)
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the shipped migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def stored_revision(engine: sa.Engine) -> str | None:
    """The revision recorded in the database, ``None`` for a database never upgraded."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()  # noqa: S608
    return rows[0][0] if len(rows) == 1 else None


def at_head(engine: sa.Engine) -> bool:
    return stored_revision(engine) == shipped_head()
