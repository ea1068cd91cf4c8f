"""The listener's keys: pinned, refetched for unknown kids, and loaded in the background when the
key server is down at start-up (the listener starts anyway and answers v3 with 503 meanwhile).
"""

from __future__ import annotations

import logging
import threading

from migrate.verify.jwks import VerificationKey
from migrate.verify.keys import (
    KeyFetchError,
    KeySource,
    PinnedJwksUrl,
    is_url,
    load_jwks_file,
)
from migrate.verify.verifier import Verifier, VerifyMode

log = logging.getLogger(__name__)


class ListenerKeys:
    """A JWKS file (loaded now; a bad one is a configuration error) or a pinned JWKS URL."""

    def __init__(self, spec: str, *, cooldown: float, retry: float) -> None:
        self.retry = retry
        self.source: KeySource
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not is_url(spec):
            self.source = load_jwks_file(spec)
            return
        source = PinnedJwksUrl(spec, cooldown=cooldown)
        self.source = source
        try:
            source.load()
        except KeyFetchError as exc:
            log.warning(
                "%s; v3 requests get 503 until the keys load (retrying every %g s)", exc, retry
            )
            self._thread = threading.Thread(target=self._keep_trying, name="jwks", daemon=True)
            self._thread.start()

    @property
    def loaded(self) -> bool:
        source = self.source
        return not isinstance(source, PinnedJwksUrl) or source.loaded

    @property
    def unreachable(self) -> bool:
        """Whether the pinned JWKS URL failed its last fetch (a new key may be unseen)."""
        source = self.source
        return isinstance(source, PinnedJwksUrl) and source.refresh_failed

    @property
    def may_refetch(self) -> bool:
        """Whether an unknown kid would now refetch the pinned URL (or wait for a refetch)."""
        source = self.source
        return isinstance(source, PinnedJwksUrl) and source.may_refetch

    def verifier(
        self, *, issuer: str | None, audience: str | None, fetching: bool = False
    ) -> Verifier:
        """A live verifier; unless ``fetching``, one that knows the loaded keys only and never
        fetches (the event loop's: a fetch lasts up to its timeout and would hold every request
        of the worker meanwhile). ``fetching``: for a worker thread, after an unknown kid."""
        source = self.source
        if isinstance(source, PinnedJwksUrl) and not fetching:
            source = _LoadedKeysOnly(source)
        return Verifier(source, mode=VerifyMode.LIVE, issuer=issuer, audience=audience)

    def _keep_trying(self) -> None:
        source = self.source
        assert isinstance(source, PinnedJwksUrl)
        while not self._stop.wait(self.retry):
            try:
                source.load()
            except KeyFetchError as exc:
                log.debug("%s", exc)
                continue
            log.warning("keys loaded from %s: v3 requests are accepted", source.url)
            return

    def close(self) -> None:
        self._stop.set()


class _LoadedKeysOnly:
    """A pinned JWKS URL as the event loop sees it: its loaded keys, never a fetch."""

    def __init__(self, source: PinnedJwksUrl) -> None:
        self._source = source

    @property
    def pinned_url(self) -> str:
        return self._source.pinned_url

    @property
    def description(self) -> str:
        return self._source.description

    @property
    def skipped(self) -> tuple[str, ...]:
        return self._source.skipped

    def key_for(self, kid: str) -> VerificationKey | None:
        return self._source.known_key(kid)
