"""JSON Schema compatibility checking, with Confluent Schema Registry's semantics.

* :func:`diff_files` compares two schema files (draft 2020-12 or draft-07, ``$ref``s resolved);
* :func:`export_schemas` writes the shipped schemas as a baseline; :func:`check_baseline`
  compares the shipped schemas with one.

Each :class:`Change` carries a verdict for both directions; a :class:`Mode` (backward, forward,
full) and a :class:`Policy` (strict, lenient) decide which ones break. See docs/ci.md.
"""

from __future__ import annotations

from pathlib import Path

from migrate.schemacompat.baseline import ExportResult, FileResult, check_baseline, export_schemas
from migrate.schemacompat.compare import compare_sides
from migrate.schemacompat.loading import SchemaLoadError, Side, load_file, load_shipped
from migrate.schemacompat.model import (
    Change,
    Kind,
    Mode,
    Policy,
    Status,
    Verdict,
    is_compatible,
)


def diff_files(old: Path, new: Path) -> list[Change]:
    """Every change from the schema file ``old`` to ``new``.

    ``$ref``s resolve against the files in each file's own directory, then the shipped schemas.
    Raises :class:`SchemaLoadError` for an unreadable, non-JSON or invalid schema.
    """
    return compare_sides(load_file(old), load_file(new))


__all__ = [
    "Change",
    "ExportResult",
    "FileResult",
    "Kind",
    "Mode",
    "Policy",
    "SchemaLoadError",
    "Side",
    "Status",
    "Verdict",
    "check_baseline",
    "compare_sides",
    "diff_files",
    "export_schemas",
    "is_compatible",
    "load_file",
    "load_shipped",
]
