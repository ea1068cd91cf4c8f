"""Credentials from the environment or files, token renewal, and secrets that never show."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_api_support import Rig, make_rig

from migrate.api import events, exports
from migrate.api.auth import ClientCredentialsToken, Secret, credentials_from_env
from migrate.api.clock import ManualClock
from migrate.api.errors import ApiConfigError, AuthenticationRefused
from migrate.cli import cli
from migrate.simulator.faults import Fault


@pytest.fixture
def rig(tmp_path: Path):
    with make_rig(tmp_path) as rig:
        yield rig


def test_a_secret_does_not_print_itself() -> None:
    secret = Secret("hunter2-value")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {[secret]}"
    assert secret.reveal() == "hunter2-value"


def test_credentials_from_variables_and_from_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret-from-file\n")
    (tmp_path / "token").write_text("  tok-from-file  \n")
    creds = credentials_from_env(
        {
            "WEBHOOKS_MIGRATE_CLIENT_ID": "cid",
            "WEBHOOKS_MIGRATE_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
            "WEBHOOKS_MIGRATE_TOKEN_FILE": str(tmp_path / "token"),
        }
    )
    assert creds.client_id == "cid"
    assert creds.client_secret is not None
    assert creds.client_secret.reveal() == "s3cret-from-file"
    assert creds.token is not None
    assert creds.token.reveal() == "tok-from-file"
    only_token = credentials_from_env({"WEBHOOKS_MIGRATE_TOKEN": "abc"})
    assert not only_token.has_client


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no API credentials"),
        ({"WEBHOOKS_MIGRATE_CLIENT_ID": "cid"}, "WEBHOOKS_MIGRATE_CLIENT_SECRET is not set"),
        ({"WEBHOOKS_MIGRATE_CLIENT_SECRET": "x"}, "WEBHOOKS_MIGRATE_CLIENT_ID is not set"),
        (
            {"WEBHOOKS_MIGRATE_TOKEN": "a", "WEBHOOKS_MIGRATE_TOKEN_FILE": "/nonexistent"},
            "not both",
        ),
        ({"WEBHOOKS_MIGRATE_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
    ],
)
def test_incomplete_or_ambiguous_credentials_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ApiConfigError, match=message):
        credentials_from_env(env)


def test_client_credentials_are_exchanged_once_and_reused(rig: Rig) -> None:
    client = rig.client()
    events.get_summary(client, rig.sid)
    exports.list_exports(client, rig.sid)
    assert rig.sim.count("POST", r"/login/token$") == 1


def test_a_token_is_renewed_before_it_expires(rig: Rig) -> None:
    client = rig.client()
    events.get_summary(client, rig.sid)
    rig.clock.advance(3600 - 30)  # inside the renewal margin, before the server's expiry
    events.get_summary(client, rig.sid)
    assert rig.sim.count("POST", r"/login/token$") == 2
    assert rig.sim.count("GET", r"/summary$") == 2  # no 403 on the way


def test_403_for_an_expired_token_renews_it_and_repeats_the_request(rig: Rig) -> None:
    # The client's clock lags the server's: the server expires the token first and answers 403.
    client = rig.client(clock=ManualClock(rig.clock.now()))
    events.get_summary(client, rig.sid)
    rig.clock.advance(3601)
    assert events.get_summary(client, rig.sid).total == 8
    assert rig.sim.count("POST", r"/login/token$") == 2
    assert rig.sim.count("GET", r"/summary$") == 3  # ok, 403, ok
    assert isinstance(client.tokens, ClientCredentialsToken)
    assert client.tokens.fetches == 2


def test_a_static_token_that_expired_is_refused_clearly(rig: Rig) -> None:
    token = rig.sim.world.issue_token(rig.sim.config.client_id, rig.secret, "client_credentials")
    value = token.body["access_token"]
    client = rig.client(token=value)
    events.get_summary(client, rig.sid)
    rig.clock.advance(3601)
    with pytest.raises(AuthenticationRefused, match="403") as caught:
        events.get_summary(client, rig.sid)
    assert value not in str(caught.value)


def test_a_fresh_token_that_is_still_refused_is_not_retried_forever(rig: Rig) -> None:
    rig.sim.inject(Fault(r"/summary$", status=403, times=5))
    with pytest.raises(AuthenticationRefused, match="freshly issued"):
        events.get_summary(rig.client(), rig.sid)
    assert rig.sim.count("GET", r"/summary$") == 2


def test_wrong_client_secret_is_refused_without_echoing_it(rig: Rig) -> None:
    with pytest.raises(AuthenticationRefused, match="invalid_client") as caught:
        events.get_summary(rig.client(secret="a-wrong-secret"), rig.sid)
    assert "a-wrong-secret" not in str(caught.value)
    assert rig.secret not in str(caught.value)


def _run(rig: Rig, args: list[str], **env: str):
    return CliRunner().invoke(cli, args, env=rig.env(**env), catch_exceptions=False)


@pytest.mark.parametrize(
    "args",
    [
        ["api", "summary", "--format", "json"],
        ["api", "exports", "start"],
        ["api", "exports", "download", "no-such-export"],
        ["api", "recover", "--poll-interval", "0"],
        ["api", "events", "list", "--state", "failure"],
    ],
)
def test_secrets_never_appear_in_output_or_logs(
    tmp_path: Path, args: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with make_rig(tmp_path, export_seconds=0) as rig:
        rig.sim.inject(Fault(r"/summary$", status=503))  # a retry: logs a warning
        good = _run(rig, [*args, "--download-dir", str(tmp_path)] if "recover" in args else args)
        bad_secret = _run(rig, args, WEBHOOKS_MIGRATE_CLIENT_SECRET="wrong-secret-value-123")
        assert bad_secret.exit_code == 3
        texts = [good.stdout, good.stderr, bad_secret.stdout, bad_secret.stderr, caplog.text]
        issued = rig.sim.world.issued_tokens
        assert issued, "the good run authenticated"
        for secret in [rig.secret, "wrong-secret-value-123", *issued]:
            assert all(secret not in text for text in texts)


def test_a_static_token_never_appears_even_when_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = rig.sim.world.issue_token(rig.sim.config.client_id, rig.secret, "client_credentials")
    value = token.body["access_token"]
    env = {"WEBHOOKS_MIGRATE_CLIENT_ID": "", "WEBHOOKS_MIGRATE_CLIENT_SECRET": ""}
    ok = _run(rig, ["api", "summary", "--no-store"], WEBHOOKS_MIGRATE_TOKEN=value, **env)
    assert ok.exit_code == 0
    rig.clock.advance(3601)
    refused = _run(rig, ["api", "summary", "--no-store"], WEBHOOKS_MIGRATE_TOKEN=value, **env)
    assert refused.exit_code == 3
    assert "refused the token" in refused.stderr
    for text in (ok.stdout, ok.stderr, refused.stdout, refused.stderr, caplog.text):
        assert value not in text
        assert value.rsplit(".", 1)[-1] not in text  # not even the signature part
