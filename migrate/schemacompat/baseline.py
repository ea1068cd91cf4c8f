"""The committed baseline of the shipped schemas: writing it, and checking against it."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from adapters import schema_registry
from migrate.schemacompat.compare import compare_sides
from migrate.schemacompat.loading import SchemaLoadError, load_file, load_shipped
from migrate.schemacompat.model import Change, Kind, Mode, Policy, Verdict, is_compatible

SUFFIX = schema_registry.SUFFIX


@dataclass(frozen=True)
class ExportResult:
    written: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class FileResult:
    """One schema file: ``added`` (only shipped), ``removed`` (only in the baseline),
    ``changed`` or ``unchanged``."""

    file: str
    status: str
    changes: tuple[Change, ...]

    def compatible(self, mode: Mode, policy: Policy) -> bool:
        return is_compatible(self.changes, mode, policy)


def export_schemas(directory: Path) -> ExportResult:
    """Copy every shipped schema into ``directory`` byte for byte, and delete baseline schema
    files that are no longer shipped, so the directory mirrors exactly what ships."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for name in schema_registry.names():
        file_name = name + SUFFIX
        data = (schema_registry.schema_dir() / file_name).read_bytes()
        _write_atomically(directory / file_name, data)
        written.append(file_name)
    shipped = set(written)
    removed = sorted(p.name for p in directory.glob("*" + SUFFIX) if p.name not in shipped)
    for file_name in removed:
        (directory / file_name).unlink()
    return ExportResult(tuple(written), tuple(removed))


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_baseline(directory: Path) -> list[FileResult]:
    """Compare every shipped schema with its baseline copy (OLD = baseline, NEW = shipped)."""
    baseline = {p.name[: -len(SUFFIX)]: p for p in directory.glob("*" + SUFFIX)}
    if not baseline:
        # An empty or mistyped baseline would make every schema "added" and pass vacuously.
        raise SchemaLoadError(
            f"{directory}: no *{SUFFIX} files: create the baseline with `schema export {directory}`"
        )
    shipped = set(schema_registry.names())
    results: list[FileResult] = []
    for name in sorted(shipped | baseline.keys()):
        file_name = name + SUFFIX
        if name not in baseline:
            added = Change(
                Kind.SCHEMA_FILE_ADDED,
                "",
                f"{file_name} is new (not in the baseline)",
                Verdict.COMPATIBLE,
                Verdict.COMPATIBLE,
            )
            results.append(FileResult(file_name, "added", (added,)))
        elif name not in shipped:
            removed = Change(
                Kind.SCHEMA_FILE_REMOVED,
                "",
                f"{file_name} is no longer shipped; consumers relied on it",
                Verdict.BREAKING,
                Verdict.BREAKING,
            )
            results.append(FileResult(file_name, "removed", (removed,)))
        else:
            changes = tuple(compare_sides(load_file(baseline[name]), load_shipped(name)))
            results.append(FileResult(file_name, "changed" if changes else "unchanged", changes))
    return results
