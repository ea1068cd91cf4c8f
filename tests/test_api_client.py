"""The client against the simulator: retries, Retry-After, what is never repeated, links, pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_api_support import Rig, make_rig

from migrate.api import events, exports
from migrate.api.auth import Credentials, Secret
from migrate.api.client import ApiClient, ApiSettings, RetryPolicy, parse_retry_after
from migrate.api.errors import (
    ApiConfigError,
    ApiUnreachable,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
)
from migrate.simulator.faults import Fault

SUMMARY = r"/summary$"
EXPORTS = r"/exports$"


@pytest.fixture
def rig(tmp_path: Path):
    with make_rig(tmp_path) as rig:
        yield rig


def test_429_waits_as_long_as_retry_after_says(rig: Rig) -> None:
    rig.sim.inject(Fault(SUMMARY, status=429, headers={"Retry-After": "7"}, times=2))
    client = rig.client()
    summary = events.get_summary(client, rig.sid)
    assert summary.total == 8
    assert rig.clock.sleeps == [7.0, 7.0]
    assert rig.sim.count("GET", SUMMARY) == 3


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("120", now=0) == 120.0
    assert parse_retry_after("soon", now=0) is None


def test_a_retry_after_longer_than_we_accept_is_reported_not_slept(rig: Rig) -> None:
    rig.sim.inject(Fault(SUMMARY, status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimited, match="3600s"):
        events.get_summary(rig.client(), rig.sid)
    assert rig.clock.sleeps == []


def test_5xx_and_dropped_connections_are_retried_with_growing_backoff(rig: Rig) -> None:
    rig.sim.inject(Fault(SUMMARY, status=503))
    rig.sim.inject(Fault(SUMMARY, action="drop"))
    assert events.get_summary(rig.client(), rig.sid).failed == 4
    # rng() = 1.0 makes the jitter its maximum: base 1 s, then doubled.
    assert rig.clock.sleeps == [1.0, 2.0]


def test_retries_give_up_after_the_policy_allows(rig: Rig) -> None:
    rig.sim.inject(Fault(SUMMARY, status=502, times=10))
    with pytest.raises(ServerError, match="502"):
        events.get_summary(rig.client(), rig.sid)
    assert rig.sim.count("GET", SUMMARY) == 4


def test_other_4xx_are_not_retried(rig: Rig) -> None:
    with pytest.raises(NotFound):
        events.get_event(rig.client(), rig.sid, "no-such-event")
    assert rig.sim.count("GET", r"/events/no-such-event$") == 1
    assert rig.clock.sleeps == []


@pytest.mark.parametrize(
    "fault",
    [Fault(EXPORTS, method="POST", status=503), Fault(EXPORTS, method="POST", action="drop_after")],
)
def test_starting_an_export_is_never_repeated_after_an_ambiguous_failure(
    rig: Rig, fault: Fault
) -> None:
    rig.sim.inject(fault)
    with pytest.raises((ServerError, ApiUnreachable), match="not repeated"):
        exports.start_export(rig.client(), rig.sid)
    assert rig.sim.count("POST", EXPORTS) == 1


def test_starting_an_export_is_repeated_after_429_because_nothing_happened(rig: Rig) -> None:
    rig.sim.inject(Fault(EXPORTS, method="POST", status=429, headers={"Retry-After": "2"}))
    job = exports.start_export(rig.client(), rig.sid)
    assert job.state == "processing"
    assert rig.sim.count("POST", EXPORTS) == 2
    assert len(rig.sim.world.exports) == 1


def test_lists_follow_next_links_across_pages(tmp_path: Path) -> None:
    with make_rig(tmp_path, succeeded=7, retrying=0, failed=5, page_size=3) as rig:
        records = list(events.list_events(rig.client(), rig.sid))
        assert len({r.id for r in records}) == 12
        assert rig.sim.count("GET", r"/events$") == 4  # 3 + 3 + 3 + 3
        failed = list(events.list_events(rig.client(), rig.sid, state="failure", limit=4))
        assert [r.state for r in failed] == ["failure"] * 4


def test_export_links_are_followed_rather_than_built(tmp_path: Path) -> None:
    # This simulator links to /exports/{id}, the other spelling the docs use.
    with make_rig(tmp_path, export_path="exports", export_seconds=1) as rig:
        client = rig.client()
        job = exports.start_export(client, rig.sid)
        rig.clock.advance(2)
        status = exports.get_export(client, rig.sid, job)
        exports.download_export(client, rig.sid, status, rig.tmp / "x.ndjson")
        assert rig.sim.count("GET", rf"/subscriptions/{rig.sid}/exports/{job.id}$") == 1
        assert rig.sim.count("GET", rf"/subscriptions/{rig.sid}/exports/{job.id}/download$") == 1
        assert rig.sim.count("GET", r"/events/exports/") == 0


def test_a_link_to_another_origin_is_refused(rig: Rig) -> None:
    client = rig.client()
    with pytest.raises(ProtocolError, match="another origin"):
        client.link_or({"_links": {"self": {"href": "https://evil.example/steal"}}}, "self", "/x")


def test_a_download_redirected_to_another_origin_does_not_carry_the_token(tmp_path: Path) -> None:
    with make_rig(tmp_path, download_redirect=True, export_seconds=0) as rig:
        client = rig.client()
        job = exports.start_export(client, rig.sid)
        saved = exports.download_export(client, rig.sid, job.id, rig.tmp / "x.ndjson")
        assert saved.lines == 4
        bucket = [s for s in rig.sim.seen if s.path.startswith("/_bucket/")]
        assert len(bucket) == 1
        assert bucket[0].auth_scheme is None


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.1:8080", "ftp://127.0.0.1", "not a url"]
)
def test_plain_http_is_only_for_loopback(url: str) -> None:
    with pytest.raises(ApiConfigError):
        ApiSettings(url, "customer")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "https://v1.api.us.janrain.com"],
)
def test_loopback_http_and_any_https_are_accepted(url: str) -> None:
    assert ApiSettings(url, "customer").customer_url == url + "/customer"


def test_an_unreachable_api_is_reported_after_retries(tmp_path: Path) -> None:
    with make_rig(tmp_path) as rig:
        url = rig.sim.base_url
    # The simulator has stopped: nothing listens on its port any more.
    client = ApiClient(
        ApiSettings(url, "c"),
        Credentials(token=Secret("t0ken-value")),
        clock=rig.clock,
        retry=RetryPolicy(attempts=2),
    )
    with pytest.raises(ApiUnreachable, match="connection refused"):
        events.get_summary(client, "s")
