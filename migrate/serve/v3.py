"""``POST /v3``: one compact security event token, verified in live mode (RFC 8935 §2).

:func:`read_token` turns a request body into either the verified event or the rejection that
the 400 answer and the ``rejects`` row carry; no I/O here.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from adapters.errors import Reason, Rejection
from adapters.set_token import ParsedToken, event_from_parsed, parse_compact
from adapters.unified import UnifiedEvent
from migrate.serve.codes import error_code
from migrate.store.rows import check_storable, now_text, reject_row
from migrate.verify.verifier import Verifier

ROUTE: Final = "/v3"
CONTENT_TYPE: Final = "application/secevent+jwt"


class Refused(NamedTuple):
    rejection: Rejection
    jti: str | None
    raw: str

    @property
    def code(self) -> str:
        return error_code(self.rejection.reason)

    def body(self) -> dict[str, str]:
        """The RFC 8935 error object."""
        return {"err": self.code, "description": self.rejection.message}

    def reject_row(self) -> dict[str, Any]:
        r = self.rejection
        return reject_row(
            path=ROUTE, pointer=r.pointer, reason=r.reason, message=r.message, raw=self.raw,
            now=now_text(),
        )  # fmt: skip


def content_type_ok(value: str | None) -> bool:
    """``application/secevent+jwt``, parameters and case aside."""
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def read_token(verifier: Verifier, body: bytes) -> UnifiedEvent | Refused:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raw = body.decode("utf-8", errors="replace")
        rejection = Rejection(Reason.BAD_TOKEN, "", "the body is not a compact token (not ASCII)")
        return Refused(rejection, None, raw)
    token: ParsedToken | None = None
    try:
        token = parse_compact(text.strip())
        verifier.verify(token)
        event = event_from_parsed(token)
        check_storable(event)
    except Rejection as rejection:
        return Refused(rejection, _jti(token), text)
    return event


def _jti(token: ParsedToken | None) -> str | None:
    jti = None if token is None else token.claims.get("jti")
    return jti[:255] if isinstance(jti, str) else None
