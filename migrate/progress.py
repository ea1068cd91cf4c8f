"""A one-line progress display on a terminal; silent when stderr is piped or with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update`` is cheap enough for every record: it redraws at most every 0.2 s."""

    def __init__(
        self,
        label: str,
        *,
        enabled: bool,
        total_bytes: int | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.enabled = enabled
        self.total_bytes = total_bytes
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._next_draw = self.started + 0.2
        self._drawn = False

    def update(self, records: int, bytes_read: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next_draw:
            return
        self._next_draw = now + 0.2
        rate = records / max(now - self.started, 1e-9)
        text = f"\r{self.label}: {records:,} records, {rate:,.0f}/s"
        if self.total_bytes and bytes_read is not None:
            text += f", {min(100.0, 100.0 * bytes_read / self.total_bytes):.0f}%"
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
