"""Is the dual-running cutover safe to finish? Each check passes, fails, warns or skips,
with a detail that says what to do; ready means no ``fail`` (with ``strict``: nothing but
``pass``)."""

from __future__ import annotations

from migrate.checklist.config import ChecklistSettings, ConfigError, read_config, settings_from
from migrate.checklist.model import FAIL, ORDER, PASS, SKIP, WARN, Check, Verdict
from migrate.checklist.output import junit_xml, text_table
from migrate.checklist.run import run_checklist

__all__ = [
    "FAIL",
    "ORDER",
    "PASS",
    "SKIP",
    "WARN",
    "Check",
    "ChecklistSettings",
    "ConfigError",
    "Verdict",
    "junit_xml",
    "read_config",
    "run_checklist",
    "settings_from",
    "text_table",
]
