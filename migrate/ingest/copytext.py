"""PostgreSQL's ``COPY … FROM STDIN`` text format for a row of the events table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def copy_text_line(row: Sequence[Any]) -> str:
    """One row in PostgreSQL's ``COPY … FROM STDIN`` text format, newline included.

    Only backslash, tab, newline and carriage return mean something inside a value in this
    format; they are rare in events, so a row's text is looked through once and escaped value by
    value only when one of them is there.
    """
    text = "".join([v for v in row if v.__class__ is str])
    plain = not ("\\" in text or "\t" in text or "\n" in text or "\r" in text)
    return "\t".join([_copy_value(v, plain) for v in row]) + "\n"


def _copy_value(value: Any, plain: bool) -> str:
    if value.__class__ is str:
        if plain:
            return value
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no COPY text form for {type(value).__name__}")
