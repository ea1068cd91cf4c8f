"""The shipped JSON Schemas: loading, validators, fast predicates and error explanations.

In a source checkout the files are read from ``schemas/`` at the top of the repository; in an
installed wheel they live inside this package as ``adapters/_schemas`` (see pyproject.toml).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referencing import Registry, Resource

from adapters.errors import pointer_join
from adapters.fastcheck import Unsupported, compile_check
from adapters.fastgen import generate_check

if TYPE_CHECKING:
    # jsonschema is imported only when a record must be explained: the fast predicates need
    # just `referencing`, and bulk ingest stays smaller and quicker to start without it.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SUFFIX = ".schema.json"

UNIFIED = "unified-event"
V2_NOTIFICATION = "v2-notification"
V2_PAYLOAD = "v2-payload"
SET_HEADER = "set-header"
SET_CLAIMS = "set-claims"
EVENTS_RECORD = "events-record"
SUMMARY = "summary"
EXPORT_JOB = "export-job"


@cache
def schema_dir() -> Traversable:
    """Where the shipped schema files are: inside the installed package, else the checkout."""
    packaged = resources.files("adapters") / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "schemas"


@cache
def names() -> tuple[str, ...]:
    """Every shipped schema by short name (file name without ``.schema.json``), sorted."""
    return tuple(
        sorted(p.name[: -len(SUFFIX)] for p in schema_dir().iterdir() if p.name.endswith(SUFFIX))
    )


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed schema document ``name`` (a short name such as ``set-claims``)."""
    if name not in names():
        raise KeyError(f"no shipped schema named {name!r} (have: {', '.join(names())})")
    data: dict[str, Any] = json.loads((schema_dir() / (name + SUFFIX)).read_text("utf-8"))
    return data


@cache
def registry() -> Registry[Any]:
    """All shipped schemas, so ``$ref`` between files resolves without any network access."""
    return Registry().with_resources(
        (load(n)["$id"], Resource.from_contents(load(n))) for n in names()
    )


@cache
def validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load(name), registry=registry())


@cache
def fast_check(name: str) -> Callable[[Any], bool]:
    """A predicate agreeing with ``validator(name).is_valid``, compiled for speed.

    Generated source where the schema allows it, else composed closures, else jsonschema
    itself: a schema edit can make the check slower, never laxer.
    """
    for build in (generate_check, compile_check):
        try:
            return build(load(name), registry())
        except Unsupported:
            continue
    return validator(name).is_valid


@dataclass(frozen=True, slots=True)
class Problem:
    """One schema violation: where (JSON pointer) and what."""

    pointer: str
    message: str


def _problem(error: ValidationError) -> Problem:
    path = list(error.absolute_path)
    message = error.message
    if error.validator == "required":
        # Point at the missing member itself: it names the field the user must add.
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        instance: Any = error.instance
        missing = [n for n in required if n not in instance]
        if missing:
            path.append(missing[0])
            message = f"required property {missing[0]!r} is missing"
    if len(message) > 300:
        message = message[:297] + "..."
    return Problem(pointer_join(*path), message)


def explain(name: str, instance: Any) -> Problem | None:
    """The most relevant violation of schema ``name`` by ``instance``, or None when valid."""
    from jsonschema.exceptions import best_match

    error = best_match(validator(name).iter_errors(instance))
    return None if error is None else _problem(error)


def problems(name: str, instance: Any) -> Iterator[Problem]:
    """Every violation, in document order."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    for error in errors:
        yield _problem(error)
