"""Shared set-up for the API tests: a simulator on 127.0.0.1, a client, a SQLite store.

Not a conftest (that file belongs to the whole suite): test modules import :func:`make_rig`.
The client and the simulator share one manual clock, so a client that "sleeps" moves the
simulator's time: exports finish and tokens expire without any real waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from migrate.api.auth import Credentials, Secret
from migrate.api.client import ApiClient, ApiSettings, RetryPolicy
from migrate.api.clock import Clock, ManualClock
from migrate.api.persist import StoreSink
from migrate.simulator.model import SimConfig
from migrate.simulator.server import Simulator

# Quick retries: the manual clock makes the pauses free, but keep the arithmetic readable.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0)


@dataclass
class Rig:
    sim: Simulator
    clock: ManualClock
    sid: str
    tmp: Path
    _sinks: list[StoreSink] = field(default_factory=list)

    @property
    def secret(self) -> str:
        return self.sim.config.client_secret

    def client(
        self,
        *,
        token: str | None = None,
        secret: str | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy = FAST_RETRY,
    ) -> ApiClient:
        settings = ApiSettings(self.sim.base_url, self.sim.config.customer_id, timeout=5.0)
        if token is not None:
            creds = Credentials(token=Secret(token))
        else:
            creds = Credentials(
                client_id=self.sim.config.client_id, client_secret=Secret(secret or self.secret)
            )
        return ApiClient(settings, creds, clock=clock or self.clock, retry=retry, rng=lambda: 1.0)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.tmp / 'store.db'}"

    def sink(self) -> StoreSink:
        sink = StoreSink.open(self.db_url)
        self._sinks.append(sink)
        return sink

    def count(self, table: str) -> int:
        sink = self.sink()
        with sink.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608

    def env(self, **extra: str) -> dict[str, str]:
        """The environment the CLI reads (client credentials, no token)."""
        return {
            "WEBHOOKS_MIGRATE_API_URL": self.sim.base_url,
            "WEBHOOKS_MIGRATE_CUSTOMER_ID": self.sim.config.customer_id,
            "WEBHOOKS_MIGRATE_SUBSCRIPTION_ID": self.sid,
            "WEBHOOKS_MIGRATE_CLIENT_ID": self.sim.config.client_id,
            "WEBHOOKS_MIGRATE_CLIENT_SECRET": self.secret,
            "WEBHOOKS_MIGRATE_DB": self.db_url,
            **extra,
        }


@contextmanager
def make_rig(
    tmp: Path, *, succeeded: int = 3, retrying: int = 1, failed: int = 4, **config: Any
) -> Iterator[Rig]:
    tmp.mkdir(parents=True, exist_ok=True)
    clock = ManualClock()
    sim = Simulator(SimConfig(**config), clock=clock)
    with sim:
        sub = sim.world.add_subscription()
        sim.world.seed(sub.id, succeeded=succeeded, retrying=retrying, failed=failed)
        rig = Rig(sim, clock, sub.id, tmp)
        try:
            yield rig
        finally:
            for sink in rig._sinks:
                sink.close()
