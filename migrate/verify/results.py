"""One verdict per token: what ``verify`` prints, and what worker processes send back."""

from __future__ import annotations

from typing import NamedTuple

from adapters.errors import Rejection
from adapters.set_token import ParsedToken, parse_compact
from migrate.readers import Record
from migrate.verify.verifier import Verifier


class TokenResult(NamedTuple):
    """A token that verified (``reason`` is ``None``) or the rule that refused it.

    ``jti`` is the decoded claim whenever the token decoded, also when it failed to verify
    (then it is unverified, but it finds the event). A named tuple because every result crosses
    a process boundary with ``--jobs``: tuples pickle ten times faster than dataclasses.
    """

    line: int
    jti: str | None
    reason: str | None = None
    pointer: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    def text(self) -> str:
        if self.reason is None:
            return f"ok {self.jti or '(no jti)'} (line {self.line})"
        return f"fail line {self.line}: {self.reason}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "line": self.line,
            "jti": self.jti,
            "ok": self.reason is None,
            "reason": self.reason,
            "pointer": self.pointer,
            "message": self.message,
        }


def check_token(
    verifier: Verifier, line: int, text: str, *, now: float | None = None
) -> TokenResult:
    token: ParsedToken | None = None
    try:
        token = parse_compact(text)
        verifier.verify(token, now=now)
    except Rejection as rejection:
        return TokenResult(
            line, _jti(token), rejection.reason, rejection.pointer, rejection.message
        )
    return TokenResult(line, _jti(token))


def unreadable(record: Record, rejection: Rejection) -> TokenResult:
    """A record the reader could not turn into token text (too large, not UTF-8)."""
    return TokenResult(record.line, None, rejection.reason, rejection.pointer, rejection.message)


def _jti(token: ParsedToken | None) -> str | None:
    jti = None if token is None else token.claims.get("jti")
    return jti if isinstance(jti, str) else None
