"""v2 against v3, event for event: the largest pairing of the store's two streams.

``matching`` (pure) pairs one entity's events; ``report`` counts pairs into the report;
``window`` decides which events count; ``reading`` streams them from the store; ``run`` puts
them together.
"""

from __future__ import annotations

from migrate.parity.report import UNKNOWN_KIND, KindCounts, ParityReport, compare
from migrate.parity.run import ParityOptions, parity_window, run_parity
from migrate.parity.window import parse_duration, parse_moment

__all__ = [
    "UNKNOWN_KIND",
    "KindCounts",
    "ParityOptions",
    "ParityReport",
    "compare",
    "parity_window",
    "parse_duration",
    "parse_moment",
    "run_parity",
]
