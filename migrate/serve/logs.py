"""One JSON line per request on stderr: what happened, never what was sent.

Only the method, the path, the status, the duration, the ``jti`` when known and the rejection
reason code are written: never a token, a payload, a header value or a secret.
"""

from __future__ import annotations

import sys
import time
from typing import IO

import orjson


class RequestLog:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def write(
        self,
        method: str,
        path: str,
        status: int,
        seconds: float,
        *,
        jti: str | None = None,
        reason: str | None = None,
    ) -> None:
        record: dict[str, object] = {
            "ts": round(time.time(), 3),
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        if jti is not None:
            record["jti"] = jti
        if reason is not None:
            record["reason"] = reason
        stream = self.stream or sys.stderr
        stream.write(orjson.dumps(record).decode() + "\n")
        stream.flush()
