"""Verify every token of a file (``verify FILE``), in one process or several."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from migrate.kinds import iter_records, opened
from migrate.readers import DEFAULT_MAX_RECORD_BYTES
from migrate.verify.parallel import verify_in_processes
from migrate.verify.results import TokenResult, check_token, unreadable
from migrate.verify.verifier import Verifier


def verify_file(
    path: str,
    verifier: Verifier,
    *,
    jobs: int = 1,
    now: float | None = None,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[TokenResult]:
    """A result per token of ``path`` (``-`` for stdin, ``.gz`` accepted), in file order.

    Tokens are one per line, or wrapped over several lines as documentation shows them.
    """
    with opened(path) as (stream, _):
        records = iter_records(path, stream, "set", max_bytes=max_bytes)
        if jobs > 1:
            yield from verify_in_processes(records, verifier, jobs=jobs, now=now)
            return
        for record in records:
            if record.error is not None:
                yield unreadable(record, record.error)
            else:
                yield check_token(verifier, record.line, record.value, now=now)


@dataclass(slots=True)
class VerifyCounts:
    ok: int = 0
    failed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, result: TokenResult) -> None:
        if result.reason is None:
            self.ok += 1
        else:
            self.failed += 1
            self.by_reason[result.reason] = self.by_reason.get(result.reason, 0) + 1

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def summary(self) -> str:
        noun = "token" if self.total == 1 else "tokens"
        text = f"{self.total} {noun}: {self.ok} verified, {self.failed} failed"
        if self.by_reason:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.by_reason.items())) + ")"
        return text
