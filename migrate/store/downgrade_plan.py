"""What a downgrade would destroy, counted before it runs, so that it is never done by accident.

A revision's downgrade may drop tables (``base`` drops them all). Each shipped revision may say
which tables its downgrade destroys in a module-level ``downgrade_drops`` tuple; one that does not
say is taken to destroy every table of the store, the safe assumption. Rows are counted in the
tables that exist; a downgrade that would destroy no row needs no confirmation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from alembic.script import Script
from sqlalchemy import Engine, func, inspect, select, table

from migrate.store.migrations import current, script_directory
from migrate.store.models import Base

_RELATIVE = re.compile(r"-(\d+)")


@dataclass(frozen=True, slots=True)
class DowngradePlan:
    """The revisions a downgrade undoes and the rows it destroys, by table."""

    current: str | None
    undone: list[str] = field(default_factory=list)
    destroyed: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.destroyed.values())

    def describe(self) -> list[str]:
        """One line per table that loses rows: ``events: 301,000 rows``."""
        return [
            f"{name}: {count:,} row{'' if count == 1 else 's'}"
            for name, count in self.destroyed.items()
        ]


def _target(revision: str, start: str) -> str | None:
    """The revision a downgrade to ``revision`` ends at (``None``: base)."""
    script = script_directory()
    relative = _RELATIVE.fullmatch(revision)
    if revision == "base":
        return None
    if relative is None:
        return script.get_revision(revision).revision  # raises for an unknown one
    at: str | None = start
    for _ in range(int(relative.group(1))):
        if at is None:
            break
        down = script.get_revision(at).down_revision
        at = down if isinstance(down, str) or down is None else down[0]
    return at


def _undone(start: str | None, target: str | None) -> list[Script]:
    """The scripts from ``start`` down to, not including, ``target`` (empty if not below)."""
    script = script_directory()
    undone: list[Script] = []
    at = start
    while at is not None and at != target:
        found = script.get_revision(at)
        undone.append(found)
        down = found.down_revision
        at = down if isinstance(down, str) or down is None else down[0]
    return undone if at == target else []


def _dropped_tables(undone: list[Script]) -> list[str]:
    every = [t.name for t in Base.metadata.sorted_tables]
    names: set[str] = set()
    for script in undone:
        declared = getattr(script.module, "downgrade_drops", None)
        names.update(every if declared is None else declared)
    return [name for name in every if name in names]


def plan_downgrade(engine: Engine, revision: str) -> DowngradePlan:
    """What ``db downgrade revision`` would undo and destroy on the store behind ``engine``."""
    start = current(engine)
    if start is None:
        return DowngradePlan(current=None)
    undone = _undone(start, _target(revision, start))
    destroyed: dict[str, int] = {}
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        for name in _dropped_tables(undone):
            if name in present:
                count = connection.execute(select(func.count()).select_from(table(name))).scalar()
                if count:
                    destroyed[name] = int(count)
    return DowngradePlan(current=start, undone=[s.revision for s in undone], destroyed=destroyed)
