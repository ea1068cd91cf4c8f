"""serve: every RFC 8935 answer from a real listener (granian on 127.0.0.1), v2 callbacks, logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from serve_support import AUDIENCE, ListenerProcess, eventually, rejects, stored, token
from strategies import SEED_V2_NOTIFICATION
from test_verify_support import (
    JwksServer,
    SigningKey,
    header_for,
    make_claims,
    sign,
    sign_hmac,
    unsigned,
)

V2_HASH = SEED_V2_NOTIFICATION["hash"]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def listener(
    tmp_path_factory: pytest.TempPathFactory, key: SigningKey
) -> Iterator[ListenerProcess]:
    tmp = tmp_path_factory.mktemp("serve")
    server = JwksServer().start()
    server.publish(key)
    db = f"sqlite:///{tmp / 'store.db'}"
    process = ListenerProcess(
        db, server.url(), ["--max-body", "8192"], env={"WEBHOOKS_MIGRATE_V2_HASH": V2_HASH}
    ).start(tmp)
    yield process
    assert process.stop() == 0  # SIGTERM: a graceful stop
    server.stop()


def test_a_new_token_and_its_duplicate_get_202_and_are_stored_once(
    listener: ListenerProcess, key: SigningKey
) -> None:
    text, jti = token(key)
    first, again = listener.post_token(text), listener.post_token(text)
    assert (first.status, first.body, again.status, again.body) == (202, b"", 202, b"")
    assert stored(listener.db)[jti] == 2  # stored once, its re-sighting counted


def live(**changes: object) -> dict[str, object]:
    return make_claims(iat=int(time.time()), **changes)


def bad_tokens(key: SigningKey) -> dict[str, tuple[str, str, str]]:
    """name -> (token, RFC 8935 code, rejects reason)."""
    stranger = SigningKey.generate()
    public = key.public_pem()
    return {
        "bad signature": (
            sign(stranger.relabeled(key.kid), live()),
            "invalid_key",
            "bad_signature",
        ),
        "unknown key": (sign(stranger, live()), "invalid_key", "unknown_kid"),
        "alg none": (
            unsigned(live(), header_for(key, alg="none")),
            "invalid_key",
            "alg_not_allowed",
        ),
        "HS256 with the public key": (
            sign_hmac(public, live(), header_for(key, alg="HS256")),
            "invalid_key",
            "alg_not_allowed",
        ),
        "wrong iss": (
            sign(key, live(iss="https://evil.example")),
            "invalid_issuer",
            "iss_mismatch",
        ),
        "wrong aud": (
            sign(key, live(aud=["https://other.example"])),
            "invalid_audience",
            "aud_mismatch",
        ),
        "expired iat": (
            sign(key, make_claims(iat=int(time.time()) - 30 * 86400)),
            "invalid_request",
            "iat_too_old",
        ),
        "future iat": (
            sign(key, make_claims(iat=int(time.time()) + 3600)),
            "invalid_request",
            "iat_in_future",
        ),
        "missing jti": (sign(key, live(jti=None)), "invalid_request", "schema"),
        "not a JWT": ("this is not a token", "invalid_request", "bad_token"),
    }


def test_every_bad_token_gets_400_with_its_code_and_is_kept(
    listener: ListenerProcess, key: SigningKey
) -> None:
    cases = bad_tokens(key)
    for name, (text, code, reason) in cases.items():
        answer = listener.post_token(text)
        assert answer.status == 400, name
        body = json.loads(answer.body)
        assert set(body) == {"err", "description"}, name
        assert body["err"] == code, (name, body)
        row = ("/v3", reason, text)
        assert eventually(lambda row=row: row in rejects(listener.db)), name  # type: ignore[misc]
    # Nothing refused became an event.
    assert all(not stored(listener.db).get(t[0]) for t in cases.values())


def test_other_answers(listener: ListenerProcess, key: SigningKey) -> None:
    text, jti = token(key)
    assert listener.post_token(text, "application/json").status == 415
    assert listener.post_token("x" * 9000).status == 413  # --max-body 8192
    assert listener.request("GET", "/v3").status == 405
    assert listener.request("POST", "/healthz").status == 405
    assert listener.request("POST", "/nowhere").status == 404
    assert listener.get("/healthz").status == 200
    ready = listener.get("/readyz")
    assert (ready.status, json.loads(ready.body)["ready"]) == (200, True)
    assert jti not in stored(listener.db)


def test_v2_callbacks_are_stored_with_the_kind_of_their_route(listener: ListenerProcess) -> None:
    import sqlalchemy as sa

    body = json.dumps([SEED_V2_NOTIFICATION]).encode()
    for _ in range(2):
        assert listener.request("POST", "/v2/update", body).status == 200
    wrong = [dict(SEED_V2_NOTIFICATION, hash="0" * 40)]
    assert listener.request("POST", "/v2/add", json.dumps(wrong).encode()).status == 401
    assert listener.request("POST", "/v2", b'{"not": "an array"}').status == 400
    engine = sa.create_engine(listener.db)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT event_type, seen_count FROM events WHERE source = 'v2'")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("entityUpdated", 2)]


def test_metrics_count_requests_and_stored_events(
    listener: ListenerProcess, key: SigningKey
) -> None:
    text, _ = token(key)
    assert listener.post_token(text).status == 202
    metrics = listener.get("/metrics").body.decode()
    assert 'webhooks_migrate_listener_requests_total{route="/v3",status="202"}' in metrics
    assert "webhooks_migrate_listener_commit_batch_size_bucket" in metrics
    assert 'webhooks_migrate_listener_events_stored_total{source="v3"}' in metrics


def test_the_log_has_one_json_line_per_request_and_no_token_or_secret(
    listener: ListenerProcess, key: SigningKey
) -> None:
    text, jti = token(key)
    bad = sign(SigningKey.generate(), live())
    listener.post_token(text)
    listener.post_token(bad)
    listener.request("POST", "/v2/add", json.dumps([SEED_V2_NOTIFICATION]).encode())
    time.sleep(0.2)
    lines = [line for line in listener.log_lines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r.get("jti") == jti and r["status"] == 202 for r in records)
    assert all({"method", "path", "status", "duration_ms"} <= set(r) for r in records)
    log = listener.log()
    for secret in (text, bad, text.split(".")[1], bad.split(".")[2], V2_HASH, AUDIENCE):
        assert secret not in log


def test_the_listener_records_its_audience_for_the_checklist(listener: ListenerProcess) -> None:
    from migrate.store import open_store
    from migrate.store import settings as store_settings

    engine = open_store(listener.db, upgrade=False)
    try:
        assert store_settings.get(engine, store_settings.LISTENER_AUDIENCE) == AUDIENCE
    finally:
        engine.dispose()
