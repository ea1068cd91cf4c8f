"""What the checks share: the settings, the store (if it opened), the API (if configured)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from migrate.checklist.config import ChecklistSettings

if TYPE_CHECKING:
    from migrate.api.client import ApiClient


@dataclass
class Context:
    settings: ChecklistSettings
    now: datetime
    engine: Engine | None = None
    store_name: str = ""
    store_error: str | None = None
    store_ready: bool = False
    """Reachable and at head: the store checks may read it."""
    api: Callable[[], ApiClient] | None = None
    """Makes the API client; ``None`` when no credentials are configured (``api_missing`` says)."""
    api_missing: str = ""
    secrets: tuple[str, ...] = ()
    _client: ApiClient | None = field(default=None, repr=False)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        assert self.engine is not None
        with self.engine.connect() as conn:
            yield conn

    def client(self) -> ApiClient:
        assert self.api is not None
        if self._client is None:
            self._client = self.api()
        return self._client

    def scrub(self, exc: Exception) -> str:
        """An API error as one line, without any secret in it."""
        text = " ".join(str(exc).split())
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text
