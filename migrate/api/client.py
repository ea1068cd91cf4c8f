"""The core client: authentication, retries with back-off, ``_links`` and pagination.

Retry rules (why each):

* network errors and 5xx: retried for requests that are safe to repeat (``Retry.SAFE``).
  A POST that may have been processed before the failure is *not* repeated (``Retry.REFUSED``):
  repeating ``POST /events/exports`` could start a second export.
* 429: always retried, honouring ``Retry-After``: the server says it did nothing.
* 401/403: the token is renewed once and the request repeated (the API answers an expired
  token with 403); other 4xx are final.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from migrate.api.auth import (
    ClientCredentialsToken,
    Credentials,
    Secret,
    StaticToken,
    TokenGrant,
    TokenSource,
)
from migrate.api.clock import SYSTEM_CLOCK, Clock
from migrate.api.errors import (
    ApiConfigError,
    ApiError,
    ApiUnreachable,
    AuthenticationRefused,
    ProtocolError,
    RateLimited,
    ServerError,
    error_for_status,
)
from migrate.api.models import links_of
from migrate.api.retry import Retry as Retry  # re-exported: what callers choose per call
from migrate.api.retry import RetryPolicy as RetryPolicy
from migrate.api.retry import parse_retry_after as parse_retry_after
from migrate.api.transport import Response, StreamResponse, Transport, check_url, origin
from migrate.defaults import CUSTOMER_ENV

log = logging.getLogger("migrate.api")

DEFAULT_BASE_URL = "https://v1.api.us.janrain.com"
MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class ApiSettings:
    base_url: str
    customer_id: str
    timeout: float = 30.0

    def __post_init__(self) -> None:
        check_url(self.base_url)
        if not self.customer_id.strip():
            raise ApiConfigError(f"no customer id: set --customer-id or {CUSTOMER_ENV}")

    @property
    def customer_url(self) -> str:
        return self.base_url.rstrip("/") + "/" + quote(self.customer_id, safe="")


def _problem(resp: Response) -> tuple[str, str, Any]:
    """(title, details, body) of an error response; the API sends {"status","title","details"}."""
    try:
        body = json.loads(resp.body) if resp.body else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or resp.reason or "")
        details = body.get("details", body.get("detail", body.get("error_description", "")))
        return title, " ".join(str(details or "").split())[:300], body
    return resp.reason or "", "", None


class ApiClient:
    """Talks to one customer's Webhooks v3 API."""

    def __init__(
        self,
        settings: ApiSettings,
        credentials: Credentials,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.transport = transport or Transport(settings.timeout)
        self._rng = rng
        self._server_date: tuple[datetime, float] | None = None  # (Date header, monotonic)
        self.tokens: TokenSource
        if credentials.client_id and credentials.client_secret:
            self.tokens = ClientCredentialsToken(
                credentials.client_id, credentials.client_secret, self._fetch_token, clock
            )
        elif credentials.token:
            self.tokens = StaticToken(credentials.token)
        else:
            raise ApiConfigError("no API credentials")

    # -- URLs -------------------------------------------------------------------------------

    def url(self, path: str, **query: str | int | None) -> str:
        """An API URL from a path under the customer (``/webhooks/...``)."""
        url = self.settings.customer_url + path
        params = {k: str(v) for k, v in query.items() if v is not None}
        return url + ("?" + urlencode(params) if params else "")

    def resolve(self, href: str) -> str:
        """A ``_links`` href as a URL; it must stay on the API's origin (it will get our token)."""
        url = urljoin(self.settings.base_url.rstrip("/") + "/", href)
        if origin(url) != origin(self.settings.base_url):
            raise ProtocolError(f"the API linked to another origin ({urlsplit(url).netloc})")
        return url

    def link_or(self, document: Any, rel: str, fallback_path: str) -> str:
        """Follow ``_links[rel]`` when the API gave one, else the documented path."""
        href = links_of(document).get(rel)
        return self.resolve(href) if href else self.url(fallback_path)

    # -- requests ---------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        retry: Retry = Retry.SAFE,
        ok: tuple[int, ...] = (),
    ) -> Response:
        """One logical request; raises an :class:`ApiError` unless 2xx (or a status in ``ok``)."""
        body = None if json_body is None else json.dumps(json_body).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = self._with_auth(
                method, lambda h: self._with_retries(method, url, h, body, retry), headers, ok
            )
        except ApiError as exc:
            raise exc.scrubbed(self.tokens.secret_values()) from None
        assert isinstance(resp, Response)
        return resp

    @contextmanager
    def stream(self, url: str) -> Iterator[StreamResponse]:
        """GET with the body left on the wire (downloads); redirects followed safely."""
        try:
            resp = self._with_auth(
                "GET",
                lambda h: self._with_retries("GET", url, h, None, Retry.SAFE, stream=True),
                {"Accept": "application/x-ndjson, application/json;q=0.5, */*;q=0.1"},
                (),
            )
        except ApiError as exc:
            raise exc.scrubbed(self.tokens.secret_values()) from None
        assert isinstance(resp, StreamResponse)
        try:
            yield resp
        except ApiError as exc:
            raise exc.scrubbed(self.tokens.secret_values()) from None
        finally:
            resp.close()

    def get_json(self, url: str) -> Any:
        return self.decode(self.send("GET", url))

    @staticmethod
    def decode(resp: Response) -> Any:
        if not resp.body.strip():
            return None
        try:
            return json.loads(resp.body)
        except ValueError:
            raise ProtocolError(
                f"{urlsplit(resp.url).path}: HTTP {resp.status} answer is not JSON"
            ) from None

    def iter_items(self, url: str, key: str) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``_links.next`` page after page.

        Items are found under ``_embedded[key]`` (HAL), or the page itself when it is a list.
        """
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise ProtocolError(f"pagination does not end (page {next_url} again)")
            seen.add(next_url)
            page = self.get_json(next_url)
            if isinstance(page, list):
                items: Any = page
            elif isinstance(page, dict):
                embedded = page.get("_embedded")
                items = embedded.get(key, []) if isinstance(embedded, dict) else page.get(key, [])
            else:
                items = []
            if not isinstance(items, list):
                raise ProtocolError(f"list of {key} is not a JSON array")
            for item in items:
                if isinstance(item, dict):
                    yield item
            href = links_of(page).get("next")
            next_url = self.resolve(href) if href else None

    # -- machinery --------------------------------------------------------------------------

    def _with_auth(
        self,
        method: str,
        call: Callable[[dict[str, str]], Response | StreamResponse],
        headers: dict[str, str],
        ok: tuple[int, ...],
    ) -> Response | StreamResponse:
        token = self.tokens.current()
        renewed = False
        while True:
            resp = call({**headers, "Authorization": "Bearer " + token.reveal()})
            if resp.status in (401, 403) and resp.status not in ok and not renewed:
                if isinstance(resp, StreamResponse):
                    resp.close()
                log.info("API answered %s: renewing the access token", resp.status)
                if self.tokens.refresh(token):
                    renewed = True
                    token = self.tokens.current()
                    continue
            if 200 <= resp.status < 300 or resp.status in ok:
                return resp
            if isinstance(resp, StreamResponse):
                full = Response(resp.status, resp.reason, resp.headers, _safe_read(resp), resp.url)
                resp.close()
            else:
                full = resp
            raise self._error(method, full, renewed)

    def _error(self, method: str, resp: Response, renewed: bool) -> ApiError:
        title, details, body = _problem(resp)
        path = urlsplit(resp.url).path
        if resp.status in (401, 403):
            why = "a freshly issued token" if renewed else "the token"
            hint = "" if renewed else " (expired, or lacks permission for this customer)"
            return AuthenticationRefused(
                f"the API refused {why}: HTTP {resp.status} on {method} {path}{hint}"
                + (f": {details}" if details else "")
            )
        return error_for_status(resp.status, method, path, title, details, body)

    def _with_retries(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        retry: Retry,
        *,
        stream: bool = False,
    ) -> Response | StreamResponse:
        path = urlsplit(url).path
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            started = time.monotonic()
            try:
                if stream:
                    resp: Response | StreamResponse = self.transport.open(
                        method, url, headers, body, follow_redirects=True
                    )
                else:
                    resp = self.transport.request(method, url, headers, body)
            except (OSError, http.client.HTTPException, ApiUnreachable) as exc:
                reason = _describe_network_error(exc)
                if retry is Retry.SAFE and not last:
                    delay = self.backoff(attempt)
                    log.warning("%s %s failed (%s); retrying in %.1fs", method, path, reason, delay)
                    self.clock.sleep(delay)
                    continue
                raise ApiUnreachable(
                    f"{method} {path}: {reason}"
                    + ("" if retry is Retry.SAFE else " (not repeated: it may have taken effect)")
                ) from None
            self._note_date(resp.headers)
            log.debug(
                "%s %s -> %s (%.0f ms)",
                method,
                path,
                resp.status,
                (time.monotonic() - started) * 1e3,
            )
            status = resp.status
            if status >= 500 and retry is Retry.REFUSED:
                assert isinstance(resp, Response)
                title, details, _ = _problem(resp)
                raise ServerError(
                    status,
                    method,
                    path,
                    title,
                    (details + " " if details else "")
                    + "(not repeated: it may have taken effect; check before trying again)",
                )
            if status == 429 or (status >= 500 and retry is Retry.SAFE):
                wait = self._retry_delay(resp, attempt)
                if last or wait > self.retry.max_retry_after:
                    if status == 429:
                        if isinstance(resp, StreamResponse):
                            resp.close()
                        raise RateLimited(
                            429,
                            method,
                            path,
                            "Too Many Requests",
                            f"rate limited; the API asks to wait {wait:.0f}s",
                        )
                    return resp  # the final 5xx, reported by the caller
                if isinstance(resp, StreamResponse):
                    resp.close()
                log.warning("%s %s answered %s; retrying in %.1fs", method, path, status, wait)
                self.clock.sleep(wait)
                continue
            return resp

    def server_now(self) -> datetime:
        """The API's idea of now, from its last Date header: export ages and the 24 h rule
        are judged by the server's clock, so local clock skew cannot mislead them."""
        if self._server_date is None:
            return self.clock.now()
        date, seen = self._server_date
        return date + timedelta(seconds=time.monotonic() - seen)

    def _note_date(self, headers: dict[str, str]) -> None:
        value = headers.get("date")
        if value:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return
            if when.tzinfo is not None:
                self._server_date = (when, time.monotonic())

    def backoff(self, attempt: int) -> float:
        """The pause before retry number ``attempt`` (jittered)."""
        return self.retry.backoff(attempt, self._rng)

    def _retry_delay(self, resp: Response | StreamResponse, attempt: int) -> float:
        after = parse_retry_after(resp.header("retry-after"), self.clock.now().timestamp())
        return after if after is not None else self.backoff(attempt)

    def _fetch_token(self, client_id: str, secret: Secret) -> TokenGrant:
        """Client credentials grant at ``/{customerId}/login/token`` (HTTP Basic, RFC 6749 4.4)."""
        basic = base64.b64encode(f"{client_id}:{secret.reveal()}".encode()).decode("ascii")
        url = self.url("/login/token")
        body = urlencode({"grant_type": "client_credentials"}).encode()
        headers = {
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            resp = self._with_retries("POST", url, headers, body, Retry.SAFE)
        except ApiError as exc:
            raise exc.scrubbed([secret.reveal(), basic]) from None
        assert isinstance(resp, Response)
        if resp.status in (400, 401, 403):
            _, _, body_json = _problem(resp)
            code = body_json.get("error") if isinstance(body_json, dict) else None
            raise AuthenticationRefused(
                f"the token endpoint refused client {client_id!r}: HTTP {resp.status}"
                + (f" {code}" if isinstance(code, str) else "")
            ).scrubbed([secret.reveal(), basic])
        if not 200 <= resp.status < 300:
            raise error_for_status(
                resp.status, "POST", urlsplit(url).path, *_problem(resp)
            ).scrubbed([secret.reveal(), basic])
        data = self.decode(resp)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ProtocolError("the token endpoint answered without an access_token")
        kind = str(data.get("token_type", "bearer")).lower()
        if kind != "bearer":
            raise ProtocolError(f"the token endpoint issued a {kind!r} token, not a bearer token")
        expires = data.get("expires_in")
        lifetime = int(expires) if isinstance(expires, int | float) and expires > 0 else 3600
        return TokenGrant(Secret(token), lifetime)


def _safe_read(resp: StreamResponse) -> bytes:
    try:
        return resp.read()[:65536]
    except ApiError:
        return b""


def _describe_network_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the API reachable? check --base-url)"
    if isinstance(exc, ApiUnreachable):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
