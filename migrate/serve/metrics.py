"""Prometheus metrics: requests, stored events, duplicates, rejects, commit batches, latency.

With several worker processes the values live in ``PROMETHEUS_MULTIPROC_DIR`` (set by the
runner before the workers start) and every scrape adds up all workers, whichever answers it.
"""

from __future__ import annotations

import os
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from migrate.serve.config import MULTIPROC_ENV

_PREFIX: Final = "webhooks_migrate_listener"
_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    CONTENT_TYPE = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        own = CollectorRegistry(auto_describe=True)
        # Multiprocess mode: values go to files; a scrape collects them all (no registration).
        registry = None if self.multiprocess else own
        self.registry = own
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(own)  # type: ignore[no-untyped-call]
        self.requests = Counter(
            f"{_PREFIX}_requests", "Requests answered", ["route", "status"], registry=registry
        )
        self.stored = Counter(
            f"{_PREFIX}_events_stored", "Events stored for the first time", ["source"],
            registry=registry,
        )  # fmt: skip
        self.duplicates = Counter(
            f"{_PREFIX}_duplicates", "Events received again (stored once)", ["source"],
            registry=registry,
        )  # fmt: skip
        self.rejected = Counter(
            f"{_PREFIX}_rejected", "Requests refused, by reason", ["reason"], registry=registry
        )
        self.commit_failures = Counter(
            f"{_PREFIX}_commit_failures", "Transactions that did not commit", registry=registry
        )
        self.batch_size = Histogram(
            f"{_PREFIX}_commit_batch_size", "Requests per committed transaction",
            buckets=_BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            f"{_PREFIX}_commit_seconds", "Time to write and commit one transaction",
            buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            f"{_PREFIX}_request_seconds", "Time from request to answer", ["route"],
            buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip

        # The labelled children each request touches, looked up once (``labels()`` costs more
        # than the increment it leads to).
        self._answered: dict[tuple[str, int], tuple[Any, Any]] = {}

    def answered(self, route: str, status: int, seconds: float) -> None:
        """Count one answer and its latency."""
        children = self._answered.get((route, status))
        if children is None:
            children = self._answered[route, status] = (
                self.requests.labels(route, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def on_commit(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def on_failure(self, _error: BaseException) -> None:
        self.commit_failures.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
