"""The listener's settings: one value the command line builds and every worker process reads.

Worker processes are started by the HTTP server, not by us, so the settings travel to them in
the environment (:data:`CONFIG_ENV`, JSON), which only the same user can read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from migrate.defaults import V2_HASH_ENV
from migrate.verify.keys import DEFAULT_COOLDOWN_S

__all__ = ["CONFIG_ENV", "MULTIPROC_ENV", "V2_HASH_ENV", "ServeConfig"]

CONFIG_ENV: Final = "WEBHOOKS_MIGRATE_SERVE_CONFIG"
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's multiprocess directory (set for more than one worker)."""
DEFAULT_MAX_BODY: Final = 64 * 1024
"""A token is 1-2 KB and a v2 array a few; 64 KiB is generous and still bounded."""
DEFAULT_PORT: Final = 8080


@dataclass(frozen=True, slots=True)
class ServeConfig:
    db: str
    jwks: str | None = None
    issuer: str | None = None
    audience: str | None = None
    v2_hash: str | None = dataclasses.field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    tls_cert: str | None = None
    tls_key: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    header_timeout: float = 10.0
    """Seconds a client has to send the request line and headers."""
    body_timeout: float = 10.0
    """Seconds a client has to send the whole body once the headers are in."""
    refetch_cooldown: float = DEFAULT_COOLDOWN_S
    key_retry: float = 10.0
    """Seconds between background fetches while no key could be loaded yet."""
    max_batch: int = 1024
    """The most requests one transaction commits (group commit)."""
    server_writers: int = 2
    """Transactions in flight at once per worker on PostgreSQL/MariaDB (SQLite: one)."""
    lock_timeout: float = 5.0
    """How long a commit waits for the store's write lock before the request gets a 503."""
    retry_after: int = 5
    """The ``Retry-After`` seconds a 503 carries."""

    def __post_init__(self) -> None:
        if self.max_body < 1 or self.workers < 1 or self.max_batch < 1:
            raise ValueError("max_body, workers and max_batch must be at least 1")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeConfig:
        env = os.environ if environ is None else environ
        text = env.get(CONFIG_ENV)
        if not text:
            raise RuntimeError(f"{CONFIG_ENV} is not set: start the listener with `serve`")
        return cls.from_json(text)
