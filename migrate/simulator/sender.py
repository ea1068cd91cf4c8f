"""One webhook POST the way a real sender makes it: one connection, a timeout, no redirects.

The answer is the status code, or None when there was none in time (a timeout, a refused or
reset connection, a malformed reply): senders treat that like a failed delivery.
"""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

USER_AGENT = "Akamai Identity Cloud Webhooks/v3.0.0 (webhooks-migrate simulator)"


def post(
    url: str,
    body: bytes,
    content_type: str,
    *,
    timeout: float,
    user_agent: str = USER_AGENT,
) -> int | None:
    """POST ``body`` to ``url``; the status, or None if no whole answer came within
    ``timeout`` seconds (each socket operation is bounded by it, and so is the total)."""
    parts = urlsplit(url)
    started = time.monotonic()
    conn: http.client.HTTPConnection
    try:
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout)
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        else:
            return None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            "Content-Type": content_type,
            "Accept": "*/*",
            "User-Agent": user_agent,
            "Connection": "close",
        }
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError):
        return None
    return status if time.monotonic() - started <= timeout else None
