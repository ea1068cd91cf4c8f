"""Failures talking to the API, split by what the user can do about them.

* :class:`ApiUnreachable`, :class:`AuthenticationRefused`, :class:`ServerError`: operational
  (exit 3): the network, the credentials or the service are the problem.
* :class:`ApiResponseError` and its 4xx subclasses: the API answered and said no (exit 1).
* :class:`ApiConfigError`: the command was set up wrongly (missing credentials, plain http).

Messages never carry request headers or bodies we sent, so a secret cannot leak through them;
the client also scrubs any known secret from every message before raising (belt and braces).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migrate.errors import EXIT_OPERATIONAL, EXIT_PROBLEM, MigrateError


class ApiError(MigrateError):
    """Anything that went wrong talking to the Webhooks v3 API (exit 1; operational ones 3)."""

    operational = False

    @property
    def exit_status(self) -> int:
        return EXIT_OPERATIONAL if self.operational else EXIT_PROBLEM

    def scrubbed(self, secrets: Iterable[str]) -> ApiError:
        """This error with every occurrence of a secret replaced (in place, returns self)."""
        text = str(self)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        self.args = (text, *self.args[1:])
        return self


class ApiConfigError(ApiError):
    """The client cannot be set up: missing credentials, an insecure URL, a bad option."""


class ApiUnreachable(ApiError):
    """The network failed (refused, reset, timed out) and retries did not help."""

    operational = True


class DownloadInterrupted(ApiUnreachable):
    """A download ended before all the bytes the server announced arrived."""


class AuthenticationRefused(ApiError):
    """The token endpoint refused the credentials, or the API refused a fresh token."""

    operational = True


class ProtocolError(ApiError):
    """The API answered with something this client cannot understand."""

    operational = True


class ApiResponseError(ApiError):
    """The API answered with an error status (``status``), after any retries."""

    def __init__(
        self, status: int, method: str, path: str, title: str, details: str, body: Any = None
    ) -> None:
        text = f"{method} {path}: HTTP {status} {title}".rstrip()
        if details:
            text += f": {details}"
        super().__init__(text)
        self.status = status
        self.title = title
        self.details = details
        self.body = body


class NotFound(ApiResponseError):
    """404."""


class Conflict(ApiResponseError):
    """409: e.g. a second export while one is active, or a redelivery that is not allowed."""


class RateLimited(ApiResponseError):
    """429 that outlasted the retries (or asked for a longer wait than we accept)."""

    operational = True


class ServerError(ApiResponseError):
    """5xx that outlasted the retries, or a 5xx on a request we must not repeat."""

    operational = True


def error_for_status(
    status: int, method: str, path: str, title: str, details: str, body: Any = None
) -> ApiResponseError:
    cls: type[ApiResponseError]
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 429:
        cls = RateLimited
    elif status >= 500:
        cls = ServerError
    else:
        cls = ApiResponseError
    return cls(status, method, path, title, details, body)
