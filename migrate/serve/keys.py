"""The listener's keys: pinned, refetched for unknown kids, and loaded in the background when the
key server is down at start-up (the listener starts anyway and answers v3 with 503 meanwhile).
"""

from __future__ import annotations

import logging
import threading

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

    def verifier(self, *, issuer: str | None, audience: str | None) -> Verifier:
        return Verifier(self.source, mode=VerifyMode.LIVE, issuer=issuer, audience=audience)

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
