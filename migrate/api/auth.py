"""Credentials and bearer tokens.

Secrets come from the environment or from files named by the environment, never from
command-line flags (they would show in ``ps`` and shell history). They travel as :class:`Secret`,
whose ``repr``/``str`` never show the value, so an accidental log line or traceback cannot
leak one; only the code that builds the ``Authorization`` header calls :meth:`Secret.reveal`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from migrate.api.clock import Clock
from migrate.api.errors import ApiConfigError
from migrate.defaults import CLIENT_ID_ENV as CLIENT_ID_ENV
from migrate.defaults import CLIENT_SECRET_ENV as CLIENT_SECRET_ENV
from migrate.defaults import CLIENT_SECRET_FILE_ENV as CLIENT_SECRET_FILE_ENV
from migrate.defaults import TOKEN_ENV as TOKEN_ENV
from migrate.defaults import TOKEN_FILE_ENV as TOKEN_FILE_ENV

# Renew a little before the server would call the token expired, so a long download that
# starts just before expiry does not fail halfway.
REFRESH_MARGIN = timedelta(seconds=60)
DEFAULT_TOKEN_LIFETIME = 3600


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the environment provides: a bearer token, or a configuration client, or both."""

    token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None

    @property
    def has_client(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def secret_values(self) -> list[str]:
        return [s.reveal() for s in (self.token, self.client_secret) if s]


def read_secret(env: Mapping[str, str], value_name: str, file_name: str) -> Secret | None:
    """A secret from ``env[value_name]``, or from the file named by ``env[file_name]``."""
    value = env.get(value_name)
    path = env.get(file_name)
    if value and path:
        raise ApiConfigError(f"set {value_name} or {file_name}, not both")
    if path:
        try:
            text = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise ApiConfigError(f"cannot read {file_name} ({path}): {exc.strerror}") from None
        if not text:
            raise ApiConfigError(f"{file_name} ({path}) is empty")
        return Secret(text)
    return Secret(value.strip()) if value and value.strip() else None


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    """Read the token and client credentials the product contract names."""
    creds = Credentials(
        token=read_secret(env, TOKEN_ENV, TOKEN_FILE_ENV),
        client_id=(env.get(CLIENT_ID_ENV) or "").strip() or None,
        client_secret=read_secret(env, CLIENT_SECRET_ENV, CLIENT_SECRET_FILE_ENV),
    )
    if bool(creds.client_id) != bool(creds.client_secret):
        missing = CLIENT_SECRET_ENV if creds.client_id else CLIENT_ID_ENV
        raise ApiConfigError(f"client credentials are incomplete: {missing} is not set")
    if not creds.token and not creds.has_client:
        raise ApiConfigError(
            f"no API credentials: set {TOKEN_ENV} (or {TOKEN_FILE_ENV}), or {CLIENT_ID_ENV} "
            f"and {CLIENT_SECRET_ENV} (or {CLIENT_SECRET_FILE_ENV})"
        )
    return creds


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A token from the token endpoint and how long it lives."""

    access_token: Secret
    expires_in: int


class TokenSource(Protocol):
    def current(self) -> Secret:
        """A token believed valid now (fetching one when needed)."""
        ...

    def refresh(self, rejected: Secret) -> bool:
        """The API refused ``rejected``: get another; False when there is no way to."""
        ...

    def secret_values(self) -> list[str]:
        """Every secret this source holds, for scrubbing messages."""
        ...


class StaticToken:
    """A bearer token given by the user: used as is, cannot be renewed."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def current(self) -> Secret:
        return self._token

    def refresh(self, rejected: Secret) -> bool:
        return False

    def secret_values(self) -> list[str]:
        return [self._token.reveal()]


# (client_id, client_secret) -> grant; the client supplies it (it owns the HTTP machinery).
FetchToken = Callable[[str, Secret], TokenGrant]


class ClientCredentialsToken:
    """Tokens from ``POST /{customerId}/login/token``, cached until shortly before expiry."""

    def __init__(self, client_id: str, secret: Secret, fetch: FetchToken, clock: Clock) -> None:
        self._client_id = client_id
        self._secret = secret
        self._fetch = fetch
        self._clock = clock
        self._token: Secret | None = None
        self._expires: datetime | None = None
        self._issued: list[str] = []  # every token seen, so old ones are scrubbed too
        self._lock = threading.Lock()
        self.fetches = 0

    def current(self) -> Secret:
        with self._lock:
            now = self._clock.now()
            if self._token is None or self._expires is None or now >= self._expires:
                self._renew(now)
            assert self._token is not None
            return self._token

    def refresh(self, rejected: Secret) -> bool:
        with self._lock:
            # Another thread may already have replaced the rejected token.
            if self._token is None or self._token.reveal() == rejected.reveal():
                self._renew(self._clock.now())
            return True

    def _renew(self, now: datetime) -> None:
        grant = self._fetch(self._client_id, self._secret)
        self.fetches += 1
        self._token = grant.access_token
        self._issued.append(grant.access_token.reveal())
        lifetime = timedelta(seconds=max(grant.expires_in, 1))
        self._expires = now + max(lifetime - REFRESH_MARGIN, lifetime / 2)

    def secret_values(self) -> list[str]:
        return [self._secret.reveal(), *self._issued]
