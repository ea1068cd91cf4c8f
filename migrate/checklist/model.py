"""A check's result and the checklist's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
STATUSES = (PASS, FAIL, WARN, SKIP)

ORDER = (
    "store",
    "endpoint",
    "subscriptions",
    "receipt",
    "signatures",
    "rejects",
    "parity",
    "summary",
    "exports",
)
TITLES = {
    "store": "The store is reachable, at the newest revision, and matches the models",
    "endpoint": "The listener's public URL is HTTPS on a public host",
    "subscriptions": "A v3 subscription is enabled, points at the listener, covers v2's kinds",
    "receipt": "v3 events were received recently",
    "signatures": "Every stored v3 event was signature-verified",
    "rejects": "No reject is left unresolved",
    "parity": "Every v2 event has its v3 counterpart",
    "summary": "The v3 summary is healthy: nothing failed is left to export",
    "exports": "Every downloaded export file was ingested exactly once",
}


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    detail: str

    @property
    def title(self) -> str:
        return TITLES[self.id]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]
    strict: bool = False

    @property
    def ready(self) -> bool:
        blocking = (FAIL, WARN, SKIP) if self.strict else (FAIL,)
        return not any(c.status in blocking for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": [c.to_json() for c in self.checks]}
