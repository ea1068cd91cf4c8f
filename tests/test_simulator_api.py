"""The simulator itself: signed tokens and JWKS, delivery attempts, summary caching, the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import jwt
import pytest
from test_api_support import Rig, make_rig

from adapters.set_token import event_from_token
from migrate.api import events
from migrate.api.errors import Conflict

DAY = 86400


@pytest.fixture
def rig(tmp_path: Path):
    with make_rig(tmp_path) as rig:
        yield rig


def _jwks(rig: Rig, path: str) -> dict[str, object]:
    with urllib.request.urlopen(rig.sim.base_url + path, timeout=5) as resp:
        return json.load(resp)


def test_event_tokens_verify_against_the_served_jwks(rig: Rig) -> None:
    served = _jwks(rig, f"/{rig.sim.config.customer_id}/login/jwk")
    assert _jwks(rig, "/login/jwk") == served  # both places the docs use
    jwks = jwt.PyJWKSet.from_dict(served)
    records = list(events.list_events(rig.client(), rig.sid))
    assert len(records) == 8
    for record in records:
        token = record.raw["request"]["payload"]
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "secevent+jwt"
        assert header["jku"].endswith("/login/jwk")
        key = jwks[header["kid"]].key
        claims = jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
        assert claims["events"].keys() == {record.event_type}
        event = event_from_token(token)  # the project's own adapter reads it
        assert event.event_id == claims["jti"]


def test_six_failed_attempts_make_a_failure_with_its_history(rig: Rig) -> None:
    world = rig.sim.world
    (eid,) = world.publish(world.sample_event("entityCreated"), sid=rig.sid)
    for attempt in range(1, 7):
        world.attempt(eid, delivered=False, status_code=500)
        assert world.events[eid].state == ("failure" if attempt == 6 else "retrying")
    history = events.event_history(rig.client(), rig.sid, eid)
    assert [h["attempt"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert events.get_event(rig.client(), rig.sid, eid).attempts == 6


def test_only_failed_events_can_be_redelivered(rig: Rig) -> None:
    client = rig.client()
    failed = next(events.list_events(client, rig.sid, state="failure"))
    succeeded = next(events.list_events(client, rig.sid, state="success"))
    assert events.redeliver(client, rig.sid, failed.id)["state"] == "retrying"
    with pytest.raises(Conflict):
        events.redeliver(client, rig.sid, succeeded.id)
    assert rig.sim.count("POST", r"/redeliver$") == 2


def test_the_summary_is_recomputed_at_most_once_a_day_and_events_expire(rig: Rig) -> None:
    client = rig.client()
    first = events.get_summary(client, rig.sid)
    rig.sim.world.seed(rig.sid, failed=1)
    assert events.get_summary(client, rig.sid) == first
    rig.clock.advance(DAY)
    assert events.get_summary(client, rig.sid).failed == 5
    rig.clock.advance(7 * DAY)
    assert events.get_summary(client, rig.sid).total == 0


def test_the_simulate_command_serves_until_stopped(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOKS_MIGRATE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrate", "simulate", "api", "--port", "0", "--failed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(7)]
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in lines
            if "export " in line
        )
        secret_file = Path(exports["WEBHOOKS_MIGRATE_CLIENT_SECRET_FILE"])
        assert secret_file.stat().st_mode & 0o077 == 0  # private
        secret = secret_file.read_text().strip()
        assert secret not in "".join(lines)
        url = exports["WEBHOOKS_MIGRATE_API_URL"]
        customer = exports["WEBHOOKS_MIGRATE_CUSTOMER_ID"]
        with urllib.request.urlopen(f"{url}/{customer}/login/jwk", timeout=5) as resp:
            assert json.load(resp)["keys"][0]["alg"] == "RS256"
        result = subprocess.run(
            [sys.executable, "-m", "migrate", "api", "summary", "--no-store", "--format", "json"],
            env={**env, **exports},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["summary"]["exportable"] == 3
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _start_simulator(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOKS_MIGRATE_")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp_path / "tmp")  # where the secret folder goes
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", "simulate", "api", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_simulator_removes_its_secret_folder_on_exit(tmp_path: Path, stop: int) -> None:
    proc = _start_simulator(tmp_path, "--port", "0")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(7)]
        secret_line = next(line for line in lines if "CLIENT_SECRET_FILE=" in line)
        secret_file = Path(secret_line.strip().split("=", 1)[1])
        assert secret_file.exists()
        proc.send_signal(stop)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert not secret_file.exists()
    assert not secret_file.parent.exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _start_simulator(tmp_path, "--host", "127.0.0.1", "--port", str(port))
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "in use" in lines[0]
    assert list((tmp_path / "tmp").iterdir()) == []  # no secret folder left behind
