"""Where verification keys come from: a JWKS file, or a JWKS URL the user pins.

The URL is configuration, never something a token says: a token's ``jku`` is only compared with
it (see :mod:`migrate.verify.verifier`). Keys rotate, so a ``kid`` not yet known refetches the
pinned URL, at most once per cooldown: a flood of tokens with made-up kids costs the key server
one request per cooldown, not one per token. A failed refresh keeps the keys already loaded.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from migrate import __version__
from migrate.api.transport import is_loopback
from migrate.verify.jwks import JwksError, KeySet, VerificationKey, parse_jwks

log = logging.getLogger(__name__)

DEFAULT_COOLDOWN_S: Final = 300.0
DEFAULT_TIMEOUT_S: Final = 10.0
# A JWK set of three RSA keys is about 2 KB; the cap bounds what a broken server can make us hold.
MAX_JWKS_BYTES: Final = 256 * 1024
_CHUNK: Final = 16 * 1024


class KeySourceError(Exception):
    """The key source cannot be set up: a bad URL, an unreadable or unusable JWKS file."""


class KeyFetchError(KeySourceError):
    """The pinned JWKS URL could not be fetched or did not hold a usable JWK set."""


class KeySource(Protocol):
    """What the verifier needs from a key source."""

    @property
    def pinned_url(self) -> str | None:
        """The JWKS URL the keys come from (a token's ``jku`` must equal it), if any."""
        ...

    @property
    def description(self) -> str:
        """Names the source in messages: ``JWKS file keys.json`` or ``JWKS URL https://…``."""
        ...

    @property
    def skipped(self) -> tuple[str, ...]:
        """Why entries of the JWK set were not loaded (for --debug and logs)."""
        ...

    def key_for(self, kid: str) -> VerificationKey | None:
        """The key with this ``kid``, or ``None`` if the source has none (after any refresh)."""
        ...


class StaticKeys:
    """Keys loaded once, from a JWKS file: rotation means replacing the file."""

    def __init__(self, keyset: KeySet, description: str, pinned_url: str | None = None) -> None:
        self.keyset = keyset
        self._description = description
        self._pinned_url = pinned_url

    @property
    def pinned_url(self) -> str | None:
        return self._pinned_url

    @property
    def description(self) -> str:
        return self._description

    @property
    def skipped(self) -> tuple[str, ...]:
        return self.keyset.skipped

    def key_for(self, kid: str) -> VerificationKey | None:
        return self.keyset.keys.get(kid)


def load_jwks_file(path: str, *, pinned_url: str | None = None) -> StaticKeys:
    """Keys from a JWKS file; ``pinned_url`` is where the file came from, if the user says so."""
    try:
        with open(path, "rb") as file:
            document = file.read(MAX_JWKS_BYTES + 1)
    except OSError as exc:
        raise KeySourceError(f"cannot read JWKS file {path}: {exc.strerror or exc}") from None
    if len(document) > MAX_JWKS_BYTES:
        raise KeySourceError(f"JWKS file {path} is larger than {MAX_JWKS_BYTES} bytes")
    try:
        keyset = parse_jwks(document, f"JWKS file {path}")
    except JwksError as exc:
        raise KeySourceError(str(exc)) from None
    return StaticKeys(keyset, f"JWKS file {path}", pinned_url)


def check_jwks_url(url: str) -> None:
    """https anywhere; plain http only to loopback: whoever can alter keys can forge tokens."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KeySourceError(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise KeySourceError("a JWKS URL must not carry credentials")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise KeySourceError(
            f"refusing plain http:// to {parts.hostname}: keys fetched unencrypted could be "
            "replaced on the way; use https:// (http:// is accepted only for loopback addresses)"
        )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """The pinned URL is the one trusted location; a redirect would move trust elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def fetch_jwks(
    url: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_bytes: int = MAX_JWKS_BYTES
) -> bytes:
    """GET the JWK set at ``url``: ``timeout`` bounds the whole exchange, ``max_bytes`` the body."""
    check_jwks_url(url)
    handlers: list[urllib.request.BaseHandler] = [_RefuseRedirects()]
    if is_loopback(urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))  # never send loopback through a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 - check_jwks_url allowed http(s) only
        url,
        headers={
            "Accept": "application/jwk-set+json, application/json",
            "User-Agent": f"webhooks-migrate/{__version__}",
        },
    )
    deadline = time.monotonic() + timeout
    what = f"cannot fetch the JWKS from {url}"
    try:
        with opener.open(request, timeout=timeout) as response:
            body = bytearray()
            while chunk := response.read(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise KeyFetchError(f"{what}: the response is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise KeyFetchError(f"{what}: no complete response within {timeout:g} s")
    except urllib.error.HTTPError as exc:
        hint = " (redirects are not followed: pin the final URL)" if 300 <= exc.code < 400 else ""
        raise KeyFetchError(f"{what}: HTTP {exc.code} {exc.reason}{hint}") from None
    except urllib.error.URLError as exc:
        raise KeyFetchError(f"{what}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # resets and timeouts mid-body; http.client's errors
        raise KeyFetchError(f"{what}: {type(exc).__name__}: {exc}") from None
    return bytes(body)


class PinnedJwksUrl:
    """Keys from a JWKS URL, refetched when a token names an unknown ``kid``.

    Refetches are rate limited by ``cooldown`` seconds of ``clock`` (monotonic; tests inject a
    manual one) counted from the last refetch an unknown kid caused, failed ones too, so a dead
    key server is not hammered either. The start-up :meth:`load` does not start a cooldown: a
    key published just after start-up verifies on its first token.
    Safe to share between threads (the listener): known kids never wait, unknown ones wait for
    a refresh in progress. Picklable for worker processes, which keep the keys and the time left
    in the cooldown.
    """

    def __init__(
        self,
        url: str,
        *,
        cooldown: float = DEFAULT_COOLDOWN_S,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = MAX_JWKS_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_jwks_url(url)
        if cooldown < 0 or timeout <= 0:
            raise ValueError("cooldown must be >= 0 and timeout > 0")
        self.url = url
        self.cooldown = cooldown
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._clock = clock
        self._keyset = KeySet({})
        self._last_attempt: float | None = None
        """When an unknown kid last caused a refetch (the start of the cooldown)."""
        self._lock = threading.Lock()
        self.attempts = 0
        """Fetches tried so far (successful or not)."""
        self.last_error: str | None = None
        self.refresh_failed = False
        """Whether the last fetch failed: an unknown kid may then be a key not yet seen."""

    @property
    def pinned_url(self) -> str:
        return self.url

    @property
    def description(self) -> str:
        return f"JWKS URL {self.url}"

    @property
    def skipped(self) -> tuple[str, ...]:
        return self._keyset.skipped

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keyset.keys)

    @property
    def loaded(self) -> bool:
        """Whether a usable JWK set has been fetched yet."""
        return bool(self._keyset.keys)

    def load(self) -> None:
        """Fetch now, ignoring the cooldown; :class:`KeyFetchError` if that fails (start-up).

        It starts no cooldown (only refetches for unknown kids do).
        """
        with self._lock:
            self._fetch()

    def key_for(self, kid: str) -> VerificationKey | None:
        key = self.known_key(kid)  # known kids never wait for the lock
        if key is not None:
            return key
        # An unknown kid waits for a refresh in progress (the new key may be in it), and
        # starts one only if the cooldown since the last attempt has passed.
        with self._lock:
            key = self._keyset.keys.get(kid)
            if key is None and self._refresh_allowed():
                self._refresh()
                key = self._keyset.keys.get(kid)
        return key

    def known_key(self, kid: str) -> VerificationKey | None:
        """The key if it is loaded already: never fetches (for an event loop)."""
        return self._keyset.keys.get(kid)

    @property
    def may_refetch(self) -> bool:
        """Whether :meth:`key_for` with an unknown kid would now fetch, or wait for a fetch."""
        return self._lock.locked() or self._refresh_allowed()

    def _refresh_allowed(self) -> bool:
        last = self._last_attempt
        return last is None or self._clock() - last >= self.cooldown

    def _refresh(self) -> None:
        self._last_attempt = self._clock()
        try:
            self._fetch()
        except KeyFetchError as exc:
            self.last_error = str(exc)
            self.refresh_failed = True
            log.warning("%s; keeping the %d keys loaded before", exc, len(self._keyset.keys))

    def _fetch(self) -> None:
        self.attempts += 1
        document = fetch_jwks(self.url, timeout=self.timeout, max_bytes=self.max_bytes)
        try:
            keyset = parse_jwks(document, f"the JWKS at {self.url}")
        except JwksError as exc:
            raise KeyFetchError(str(exc)) from None
        for note in keyset.skipped:
            log.info("%s: ignored %s", self.url, note)
        self._keyset = keyset
        self.last_error = None
        self.refresh_failed = False

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_last_attempt")}
        # Clocks are per process: carry how long ago the last attempt was, not when.
        last = self._last_attempt
        state["_since_last_attempt"] = None if last is None else self._clock() - last
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        since = state.pop("_since_last_attempt")
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._last_attempt = None if since is None else self._clock() - since


def is_url(spec: str) -> bool:
    return "://" in spec


def load_key_source(
    spec: str,
    *,
    cooldown: float = DEFAULT_COOLDOWN_S,
    timeout: float = DEFAULT_TIMEOUT_S,
    pinned_url: str | None = None,
) -> KeySource:
    """A JWKS file path or a pinned JWKS URL, loaded now.

    Raises :class:`KeyFetchError` when the URL cannot be fetched (an operational failure) and
    :class:`KeySourceError` for a bad URL or file (a configuration mistake). ``pinned_url``
    applies to a file: the URL it was downloaded from, which tokens' ``jku`` must then equal.
    """
    if is_url(spec):
        if pinned_url is not None and pinned_url != spec:
            raise KeySourceError(
                f"the jku URL {pinned_url} differs from the JWKS URL {spec}: with a JWKS URL, "
                "tokens' jku is compared with that URL itself"
            )
        source = PinnedJwksUrl(spec, cooldown=cooldown, timeout=timeout)
        source.load()  # logs the keys it skips
        return source
    if pinned_url is not None:
        check_jwks_url(pinned_url)
    keys = load_jwks_file(spec, pinned_url=pinned_url)
    for note in keys.skipped:
        log.info("%s: ignored %s", spec, note)
    return keys
