"""One HTTP exchange over the standard library (http.client): no retries, no auth logic.

Why not urllib.request: it follows redirects keeping the ``Authorization`` header, even to
another host. Export downloads may be redirected to a storage bucket, which must never see
our bearer token, so redirects are followed here and the header is dropped across origins.
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from migrate.api.errors import ApiConfigError, DownloadInterrupted

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
USER_AGENT = "webhooks-migrate"


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """https anywhere; plain http only to loopback (the simulator, tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        if is_loopback(parts.hostname):
            return
        raise ApiConfigError(
            f"refusing plain http:// to {parts.hostname}: tokens would travel unencrypted; "
            "use https:// (http:// is accepted only for loopback addresses such as the simulator)"
        )
    raise ApiConfigError(f"not an http(s) URL: {url!r}")


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


@dataclass(slots=True)
class Response:
    """A response whose body is read in full."""

    status: int
    reason: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class StreamResponse:
    """A response whose body is still on the wire; iterate :meth:`chunks`, then :meth:`close`."""

    status: int
    reason: str
    headers: dict[str, str]
    url: str
    _conn: http.client.HTTPConnection = field(repr=False)
    _resp: http.client.HTTPResponse = field(repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def chunks(self) -> Iterator[bytes]:
        """The body; raises :class:`DownloadInterrupted` if it ends before Content-Length."""
        expected = self.header("content-length")
        received = 0
        try:
            while True:
                chunk = self._resp.read(CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            # IncompleteRead (chunked encoding cut), resets, timeouts mid-body.
            raise DownloadInterrupted(
                f"download from {_path(self.url)} broke off after {received} bytes: "
                f"{type(exc).__name__}"
            ) from None
        # http.client's read(n) returns b"" on a short body instead of raising: check ourselves.
        if expected is not None and expected.isdigit() and received != int(expected):
            raise DownloadInterrupted(
                f"download from {_path(self.url)} broke off after {received} of {expected} bytes"
            )

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        self._resp.close()
        self._conn.close()


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


class Transport:
    """Opens connections with a timeout; verifies TLS with the system's trust store."""

    def __init__(self, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self._ssl = ssl_context or ssl.create_default_context()

    def _connect(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                host, parts.port, timeout=self.timeout, context=self._ssl
            )
        return http.client.HTTPConnection(host, parts.port, timeout=self.timeout)

    def open(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        *,
        follow_redirects: bool = False,
    ) -> StreamResponse:
        """Send a request; network failures raise OSError/HTTPException for the caller to judge."""
        sent_headers = {"User-Agent": USER_AGENT, **headers}
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url)
            conn = self._connect(url)
            parts = urlsplit(url)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            try:
                conn.request(method, target, body=body, headers=sent_headers)
                resp = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            response_headers = {k.lower(): v for k, v in resp.getheaders()}
            location = response_headers.get("location")
            if follow_redirects and method == "GET" and resp.status in {301, 302, 303, 307, 308}:
                resp.close()
                conn.close()
                if not location:
                    break
                target_url = urljoin(url, location)
                if origin(target_url) != origin(url):
                    # A bucket or CDN: it authenticates by the signed URL, not by our token.
                    sent_headers = {
                        k: v for k, v in sent_headers.items() if k.lower() != "authorization"
                    }
                url = target_url
                continue
            return StreamResponse(resp.status, resp.reason, response_headers, url, conn, resp)
        raise http.client.HTTPException(f"more than {MAX_REDIRECTS} redirects")

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> Response:
        stream = self.open(method, url, headers, body)
        try:
            data = stream.read()
        finally:
            stream.close()
        return Response(stream.status, stream.reason, stream.headers, data, stream.url)
