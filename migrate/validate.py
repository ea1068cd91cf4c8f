"""Check input files against the shipped JSON Schemas, reporting every problem with its place.

A record is valid when it satisfies its schema and its adapter accepts it (the adapter adds the
rules a schema cannot say: times in range, a record's ``eventType`` matching its token), so
``validate --as K`` passes exactly the records ``convert --from K`` converts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from adapters import schema_registry as schemas
from adapters.errors import Rejection
from adapters.export import array_not_object
from adapters.set_token import parse_compact
from migrate.kinds import KIND_NAMES, Kind, converter, kind_of, opened
from migrate.readers import DEFAULT_MAX_RECORD_BYTES, Record

VALIDATE_KINDS: tuple[str, ...] = KIND_NAMES


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    pointer: str
    message: str

    def location(self) -> str:
        return f"{self.path}:{self.line}: {self.pointer or '(root)'}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.path,
            "line": self.line,
            "pointer": self.pointer,
            "message": self.message,
        }


@dataclass(slots=True)
class ValidateCounts:
    records: int = 0
    invalid: int = 0
    problems: int = 0


def _schema_problems(name: str, value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if schemas.fast_check(name)(value):
        return []
    return [(prefix + p.pointer, p.message) for p in schemas.problems(name, value)]


def _token_problems(text: Any, prefix: str) -> list[tuple[str, str]]:
    try:
        token = parse_compact(text)
    except Rejection as exc:
        return [(prefix + exc.pointer, exc.message)]
    return _schema_problems(schemas.SET_HEADER, token.header, prefix + "/header") + (
        _schema_problems(schemas.SET_CLAIMS, token.claims, prefix + "/claims")
    )


def summary_invariants(value: Any) -> list[tuple[str, str]]:
    """What the docs promise of /summary but JSON Schema cannot say."""
    found: list[tuple[str, str]] = []
    total, succeeded, retrying, failed, exportable = (
        value.get(k) for k in ("total", "succeeded", "retrying", "failed", "exportable")
    )
    if total != succeeded + retrying + failed:
        found.append(
            (
                "/total",
                f"total ({total}) != succeeded + retrying + failed "
                f"({succeeded} + {retrying} + {failed} = {succeeded + retrying + failed})",
            )
        )
    if exportable > failed:
        found.append(("/exportable", f"exportable ({exportable}) > failed ({failed})"))
    return found


# What a kind's records promise beyond their JSON Schema.
INVARIANTS: dict[str, Callable[[Any], list[tuple[str, str]]]] = {"summary": summary_invariants}


def _record_problems(
    kind: Kind, value: Any, convert: Callable[[Any], Any] | None
) -> list[tuple[str, str]]:
    if value.__class__ is list and kind.line_per_record:
        return [("", array_not_object("--as", kind.name))]
    found = [] if kind.schema is None else _schema_problems(kind.schema, value)
    if not found and kind.signed_part is not None:
        token = value
        for part in kind.signed_part.split("/")[1:]:
            token = token[part]
        found = _token_problems(token, kind.signed_part)
    if not found and kind.name in INVARIANTS:
        found = INVARIANTS[kind.name](value)
    if not found and convert is not None:
        try:
            convert(value)
        except Rejection as exc:
            found = [(exc.pointer, exc.message)]
    return found


def problems_of(
    record: Record, kind: Kind, convert: Callable[[Any], Any] | None
) -> Iterator[Problem]:
    if record.error is not None:
        yield Problem(
            record.path, record.line, record.pointer + record.error.pointer, record.error.message
        )
        return
    for pointer, message in _record_problems(kind, record.value, convert):
        yield Problem(record.path, record.line, record.pointer + pointer, message)


def validate_files(
    paths: Iterable[str],
    kind: str,
    on_problem: Callable[[Problem], None],
    *,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> ValidateCounts:
    """Validate every record of ``paths`` as ``kind``; call ``on_problem`` for each problem."""
    spec = kind_of(kind)
    convert = converter(kind) if spec.converter is not None else None
    counts = ValidateCounts()
    for path in paths:
        with opened(path) as (stream, _counter):
            for record in spec.read(path, stream, max_bytes=max_bytes, wanted=None):
                counts.records += 1
                found = list(problems_of(record, spec, convert))
                if found:
                    counts.invalid += 1
                    counts.problems += len(found)
                    for problem in found:
                        on_problem(problem)
    return counts
