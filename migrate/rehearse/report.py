"""What a rehearsal reports: its steps (numbers, the command each one stands for), the verdict.

Pure: built by :mod:`.run`, rendered here as text (one line per step, then the checklist's
table and the runbook) or as one JSON document.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any, Final

from migrate.checklist import Verdict, text_table

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

RUNBOOK: Final[dict[str, tuple[str, str]]] = {
    # step id: (what it is against your tenant, the command)
    "store": ("a store for both streams", "webhooks-migrate db upgrade --db URL"),
    "simulator": (
        "your tenant's API and credentials",
        "export WEBHOOKS_MIGRATE_API_URL=https://v1.api.us.janrain.com "
        "WEBHOOKS_MIGRATE_CUSTOMER_ID=… WEBHOOKS_MIGRATE_CLIENT_ID=… "
        "WEBHOOKS_MIGRATE_CLIENT_SECRET_FILE=…",
    ),
    "listener": (
        "the listener on a public HTTPS URL",
        "webhooks-migrate serve --db URL --customer-id $WEBHOOKS_MIGRATE_CUSTOMER_ID "
        "--issuer $WEBHOOKS_MIGRATE_API_URL/$WEBHOOKS_MIGRATE_CUSTOMER_ID/webhooks "
        "--audience https://hooks.example.com/v3   (v2 hash in WEBHOOKS_MIGRATE_V2_HASH)",
    ),
    "subscription": (
        "the v3 subscription, from the v2 webhook",
        "webhooks-migrate api subscriptions create --from-v2 v2-webhook.json "
        "--endpoint https://hooks.example.com/v3",
    ),
    "stream": (
        "dual running: point v2's callbacks at the listener's /v2/add, /v2/update, /v2/delete",
        "webhooks-migrate api summary   (watch it; Identity Cloud delivers v3 by itself)",
    ),
    "recover": (
        "failed deliveries, before their 7 days are up",
        "webhooks-migrate api recover --db URL --download-dir exports",
    ),
    "duplicate-export": (
        "a file downloaded twice is loaded once",
        "webhooks-migrate api exports download EXPORT_ID --ingest --db URL",
    ),
    "reconcile": (
        "nothing lost",
        "webhooks-migrate api summary; webhooks-migrate rejects list",
    ),
    "parity": ("v3 has every change v2 had", "webhooks-migrate parity --db URL"),
    "checklist": (
        "the verdict (then turn v2 off)",
        "webhooks-migrate checklist --db URL --exports-dir exports",
    ),
}


@dataclass
class Step:
    id: str
    status: str
    line: str
    """One line with the step's numbers."""
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def command(self) -> str:
        return RUNBOOK[self.id][1]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.line,
            "numbers": self.numbers,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            "command": self.command,
        }


@dataclass
class Report:
    directory: str
    store: str
    events: int
    seed: int
    faults: tuple[str, ...]
    expected_failures: tuple[str, ...]
    steps: list[Step] = field(default_factory=list)
    verdict: Verdict | None = None
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return self.verdict is not None and self.verdict.ready

    @property
    def failing(self) -> list[str]:
        if self.verdict is None:
            return []
        return [c.id for c in self.verdict.checks if c.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "store": self.store,
            "events": self.events,
            "seed": self.seed,
            "faults": list(self.faults),
            "expected_failures": list(self.expected_failures),
            "ready": self.ready,
            "failing": self.failing,
            "steps": [s.to_json() for s in self.steps],
            "checklist": None if self.verdict is None else self.verdict.to_json(),
            "seconds": round(self.seconds, 3),
        }


def step_line(step: Step, number: int, total: int) -> str:
    """``[3/9] listener          ok     0.8 s  …`` (wrapped), then the step's notes."""
    head = f"[{number}/{total}] {step.id:<16} {step.status:<4} {step.seconds:>5.1f} s  "
    indent = " " * len(head)
    body = textwrap.wrap(step.line, max(40, 100 - len(head)), break_on_hyphens=False) or [""]
    lines = [head + body[0], *(indent + rest for rest in body[1:])]
    lines += [indent + "· " + note for note in step.notes]
    return "\n".join(lines)


def runbook_text(report: Report) -> str:
    lines = ["", "The same steps against your tenant (docs/cutover.md has the whole runbook):"]
    for n, step in enumerate(report.steps, 1):
        what, command = RUNBOOK[step.id]
        lines.append(f"  {n:>2}. {step.id:<16} {what}")
        lines.append(f"      {'':<16} $ {command}")
    return "\n".join(lines) + "\n"


def final_text(report: Report, *, colour: bool = False) -> str:
    """The checklist's table, the verdict line, then the runbook."""
    parts = []
    if report.verdict is not None:
        parts.append("\n" + text_table(report.verdict, colour=colour))
    if report.expected_failures:
        expected = ", ".join(report.expected_failures)
        caught = set(report.expected_failures) <= set(report.failing)
        parts.append(
            f"faults {', '.join(report.faults)}: the checklist must fail {expected}: "
            + ("caught" if caught else "NOT caught")
            + "\n"
        )
    parts.append(runbook_text(report))
    parts.append(
        f"rehearsal took {report.seconds:.1f} s; its files are in {report.directory}; look at its "
        f"store with: webhooks-migrate status --db {report.store}\n"
    )
    return "".join(parts)
