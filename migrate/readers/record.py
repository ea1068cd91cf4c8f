"""The record every reader yields, the limits that bound one, and how a path is shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from adapters.errors import Rejection

# Real records are 1-2 KB; this bounds memory under hostile input (a 10 MB "line").
DEFAULT_MAX_RECORD_BYTES: Final = 1024 * 1024
# How much of an oversized or broken record is kept for the rejects table.
RAW_KEEP_BYTES: Final = 4096


@dataclass(slots=True)
class Record:
    """One input record: ``value`` when it parsed, else ``error``."""

    path: str
    line: int
    raw: bytes
    value: Any = None
    error: Rejection | None = None
    pointer: str = ""
    """Where the record sits in its line's document (``/3`` for a v2 array's fourth element)."""
    key: str | None = None
    """A database row's key as the ledger keeps it (its resume point); ``None`` for files."""

    def raw_text(self) -> str:
        """The raw record as text for reports: invalid UTF-8 is shown as escapes, not lost.

        Whole: the readers already cut what is too large to hold (to ``RAW_KEEP_BYTES``), and a
        record that was held is kept in full so that a rejects file can be fixed and replayed.
        """
        # U+0000 cannot be stored in PostgreSQL text; it is shown escaped like other unprintables.
        return self.raw.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path
