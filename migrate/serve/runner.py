"""Serving the listener with granian: worker processes, timeouts, TLS, graceful stop.

granian was chosen on numbers (docs/serve.md): on this 2-core machine a bare app that answers
202 did ~33k req/s under granian's ASGI interface (~42k with uvloop) against ~16k under uvicorn.
Its WSGI interface is faster still (~115k) but a WSGI body is read on a worker thread, so a slow
client holds that thread; under ASGI it holds a coroutine, for at most ``body_timeout``.

SIGTERM and SIGINT stop granian from accepting; each worker then finishes its requests, and the
application's lifespan shutdown commits what is queued before the process exits 0.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Not imported from .metrics: prometheus_client picks its multiprocess mode when first imported,
# which must happen in the workers, after the variable is set.
from migrate.serve.config import CONFIG_ENV, MULTIPROC_ENV, ServeConfig

APP_TARGET = "migrate.serve.app:create_app"


def prepare_store(url: str, audience: str | None = None) -> None:
    """Bring the store to the newest revision once, before any worker starts (exit 3 if down),
    and record ``audience`` (the listener's public URL) for ``checklist``'s endpoint check."""
    from migrate.store import settings
    from migrate.store.engine import open_store

    engine = open_store(url)
    try:
        if audience:
            settings.put(engine, settings.LISTENER_AUDIENCE, audience)
    finally:
        engine.dispose()


def serve(config: ServeConfig) -> None:
    """Run the listener until SIGTERM/SIGINT; returns once every worker has stopped."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    prepare_store(config.db, config.audience)
    metrics_dir = None
    os.environ[CONFIG_ENV] = config.to_json()
    if config.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="webhooks-migrate-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        server = Server(
            APP_TARGET,
            address=config.host,
            port=config.port,
            interface=Interfaces.ASGI,
            workers=config.workers,
            factory=True,
            loop=Loops.auto,  # uvloop when installed
            http=HTTPModes.auto,
            websockets=False,
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, min(60_000, int(config.header_timeout * 1000)))
            ),
            log_access=False,
            log_level="warning",  # type: ignore[arg-type]
            ssl_cert=Path(config.tls_cert) if config.tls_cert else None,
            ssl_key=Path(config.tls_key) if config.tls_key else None,
            ssl_protocol_min="tls1.2",  # type: ignore[arg-type]
            respawn_failed_workers=True,
        )
        server.serve()
    finally:
        os.environ.pop(CONFIG_ENV, None)
        if metrics_dir is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
