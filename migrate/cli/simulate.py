"""``simulate api``: run the Webhooks v3 API simulator on 127.0.0.1 for rehearsals."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import click

from migrate.api.auth import CLIENT_ID_ENV, CLIENT_SECRET_ENV, CLIENT_SECRET_FILE_ENV, read_secret
from migrate.api.clock import OffsetClock
from migrate.api.errors import ApiConfigError
from migrate.defaults import BASE_URL_ENV, CUSTOMER_ENV, SUBSCRIPTION_ENV
from migrate.errors import Unavailable
from migrate.simulator.model import SimConfig
from migrate.simulator.server import Simulator


@click.group()
def simulate() -> None:
    """Local stand-ins for Identity Cloud services."""


def _client_secret() -> tuple[str, Path | None]:
    """The secret the simulator accepts: from the environment (as the client reads it), else a
    new one written to a private file, so that it is never printed."""
    try:
        secret = read_secret(os.environ, CLIENT_SECRET_ENV, CLIENT_SECRET_FILE_ENV)
    except ApiConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if secret:
        return secret.reveal(), None
    value = secrets.token_urlsafe(24)
    directory = Path(tempfile.mkdtemp(prefix="webhooks-simulator-"))
    path = directory / "client-secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value, path


@simulate.command("api")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: a free one, printed at start).",
)
@click.option(
    "--customer-id",
    default=SimConfig.customer_id,
    show_default=True,
    help="Customer id the simulated API answers for (in every path).",
)
@click.option(
    "--subscription-id", help="Id of the subscription created at start (default: random)."
)
@click.option(
    "--endpoint",
    default="https://listener.example/v3",
    show_default=True,
    help="Where the subscription created at start delivers events (e.g. a local listener).",
)
@click.option(
    "--succeeded",
    type=click.IntRange(min=0),
    default=70,
    show_default=True,
    help="Events seeded as delivered.",
)
@click.option(
    "--retrying",
    type=click.IntRange(min=0),
    default=12,
    show_default=True,
    help="Events seeded as still being retried.",
)
@click.option(
    "--failed",
    type=click.IntRange(min=0),
    default=18,
    show_default=True,
    help="Events seeded as failed (exportable in a bulk export).",
)
@click.option(
    "--export-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="How long an export stays processing.",
)
@click.option(
    "--completed-state",
    default="completed",
    show_default=True,
    help="The word a finished export reports (the docs never show it).",
)
def simulate_api(
    host: str,
    port: int,
    customer_id: str,
    subscription_id: str | None,
    endpoint: str,
    succeeded: int,
    retrying: int,
    failed: int,
    export_seconds: float,
    completed_state: str,
) -> None:
    """Serve a simulated Webhooks v3 API until Ctrl-C.

    One subscription is created with the given numbers of events. The client id is
    $WEBHOOKS_MIGRATE_CLIENT_ID (default simulator-client); the secret is
    $WEBHOOKS_MIGRATE_CLIENT_SECRET(_FILE), or a new one written to a private file. Time can be
    pushed forward: curl -X POST http://HOST:PORT/_sim/clock -d '{"advance": 604800}'.
    Events added with POST /_sim/changes are delivered to the subscription's endpoint on the
    documented retry schedule; POST /_sim/deliver runs that schedule to its end at once.
    """
    secret, secret_file = _client_secret()
    try:
        _serve(
            host,
            port,
            customer_id,
            subscription_id,
            endpoint,
            (succeeded, retrying, failed),
            export_seconds,
            completed_state,
            secret,
            secret_file,
        )
    finally:
        if secret_file is not None:  # the folder is ours: nothing of the secret outlives us
            shutil.rmtree(secret_file.parent, ignore_errors=True)


def _stop_on_sigterm() -> None:
    """SIGTERM (``kill``, a service manager) stops the simulator as Ctrl-C does, cleanly."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _serve(
    host: str,
    port: int,
    customer_id: str,
    subscription_id: str | None,
    endpoint: str,
    seeded: tuple[int, int, int],
    export_seconds: float,
    completed_state: str,
    secret: str,
    secret_file: Path | None,
) -> None:
    succeeded, retrying, failed = seeded
    config = SimConfig(
        customer_id=customer_id,
        client_id=os.environ.get(CLIENT_ID_ENV) or SimConfig.client_id,
        client_secret=secret,
        export_seconds=export_seconds,
        completed_state=completed_state,
    )
    try:
        sim = Simulator(config, clock=OffsetClock(), host=host, port=port)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:  # the port is taken, or the address is not this machine's
        reason = exc.strerror or str(exc)
        raise Unavailable(f"cannot listen on {host}:{port}: {reason}") from exc
    sub = sim.world.add_subscription(sid=subscription_id, endpoint=endpoint)
    sim.world.seed(sub.id, succeeded=succeeded, retrying=retrying, failed=failed)
    click.echo(f"Webhooks v3 simulator listening on {sim.base_url}")
    click.echo("Point the api commands at it:")
    click.echo(f"  export {BASE_URL_ENV}={sim.base_url}")
    click.echo(f"  export {CUSTOMER_ENV}={config.customer_id}")
    click.echo(f"  export {SUBSCRIPTION_ENV}={sub.id}")
    click.echo(f"  export {CLIENT_ID_ENV}={config.client_id}")
    if secret_file is not None:
        click.echo(f"  export {CLIENT_SECRET_FILE_ENV}={secret_file}")
    else:
        click.echo(
            f"  (client secret: the one in ${CLIENT_SECRET_ENV} / ${CLIENT_SECRET_FILE_ENV})"
        )
    click.echo("Ctrl-C stops it.", err=True)
    _stop_on_sigterm()
    sim.engine.start(poll=0.2)  # events added by POST /_sim/changes are delivered as time goes
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
