"""v2 webhook → v3 subscription: events, filter semantics, and creation against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft7Validator
from test_api_support import Rig, make_rig

from migrate.api import subscriptions as subs
from migrate.cli import cli

APP = "zzyn9gy9r8xdy5zkru4y54syk6"
V2 = {
    "app_id": APP,
    "entity_type": "user",
    "callback_url": "https://example.com/v2/hook",
    "kinds": ["ADD", {"kind": "UPDATE", "attributes": ["email", "givenName"]}, "DELETE"],
}


def claims(event_type: str, **body: object) -> dict[str, object]:
    fields = {"captureApplicationId": APP, "entityType": "user", "sub": "u1", **body}
    return {"events": {event_type: fields}}


def convert(config: dict[str, object] = V2, **kw: object) -> subs.Conversion:
    return subs.v3_subscription(
        subs.parse_v2_webhook(config), endpoint="https://new.example/v3", **kw
    )  # type: ignore[arg-type]


def test_kinds_become_v3_events_and_the_filter_is_draft_07() -> None:
    body = convert().body
    assert body["events"] == ["entityCreated", "entityUpdated", "entityDeleted"]
    assert body["endpoint"] == "https://new.example/v3"
    assert body["enabled"] is True
    assert body["filter"]["$schema"] == "http://json-schema.org/draft-07/schema"
    Draft7Validator.check_schema(body["filter"])
    assert body["filter"]["properties"]["entityUpdated"]["properties"]["attributes"] == {
        "contains": {"enum": ["email", "givenName"]}
    }


@pytest.mark.parametrize(
    ("event", "delivered"),
    [
        (claims("entityCreated"), True),
        (claims("entityDeleted"), True),
        (claims("entityUpdated", attributes=["email"]), True),
        (claims("entityUpdated", attributes=["familyName", "givenName"]), True),
        (claims("entityUpdated", attributes=["familyName"]), False),  # not watched in v2
        (claims("entityCreated", captureApplicationId="another-app"), False),
        (claims("entityCreated", entityType="pet"), False),
        (claims("userCredentialUpdated"), False),  # not a subscribed event
    ],
)
def test_the_filter_delivers_what_the_v2_webhook_delivered(
    event: dict[str, object], delivered: bool
) -> None:
    assert subs.matches(convert().body, event) is delivered


def test_without_watched_attributes_any_update_is_delivered() -> None:
    body = convert({**V2, "kinds": ["UPDATE"]}).body
    assert body["events"] == ["entityUpdated"]
    assert subs.matches(body, claims("entityUpdated", attributes=["anything"]))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**V2, "kinds": ["MERGE"]}, "unknown v2 kind 'MERGE'"),
        ({**V2, "kinds": []}, "at least one"),
        ({**V2, "kinds": ["ADD"], "attributes": ["email"]}, "only apply to UPDATE"),
        ({k: v for k, v in V2.items() if k != "app_id"}, "'app_id' is missing"),
        ([V2], "JSON object"),
    ],
)
def test_bad_v2_descriptions_are_explained(config: object, message: str) -> None:
    with pytest.raises(subs.V2ConfigError, match=message):
        subs.parse_v2_webhook(config)


def test_a_v3_endpoint_is_required_and_reusing_the_v2_one_is_flagged() -> None:
    webhook = subs.parse_v2_webhook(V2)
    with pytest.raises(subs.V2ConfigError, match="new listener"):
        subs.v3_subscription(webhook)
    same = subs.v3_subscription(webhook, endpoint="https://example.com/v2/hook")
    assert any("v2 callback URL" in w for w in same.warnings)


def test_dry_run_prints_the_body_and_calls_nothing(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps(V2))
    result = CliRunner().invoke(
        cli,
        [
            "api",
            "subscriptions",
            "create",
            "--from-v2",
            str(config),
            "--dry-run",
            "--endpoint",
            "https://new.example/v3",
            "--title",
            "Users (migrated)",
        ],
        env={"WEBHOOKS_MIGRATE_API_URL": "http://127.0.0.1:9"},  # nothing listens: not called
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body == convert(title="Users (migrated)").body


def test_create_against_the_simulator_then_list(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps({**V2, "v3_endpoint": "https://new.example/v3"}))
    with make_rig(tmp_path) as rig:
        runner = CliRunner()
        created = runner.invoke(
            cli,
            ["api", "subscriptions", "create", "--from-v2", str(config), "--format", "json"],
            env=rig.env(),
        )
        assert created.exit_code == 0, created.output
        sid = json.loads(created.stdout)["id"]
        stored = rig.sim.world.subscriptions[sid]
        assert stored.filter == convert().body["filter"]
        # The simulator applies the filter: an update of an unwatched attribute is not queued.
        watched = claims("entityUpdated", attributes=["email"])["events"]
        unwatched = claims("entityUpdated", attributes=["familyName"])["events"]
        assert len(rig.sim.world.publish(watched)) == 2  # {the seeded catch-all, the new one}
        assert len(rig.sim.world.publish(unwatched)) == 1  # the catch-all only
        listed = runner.invoke(
            cli, ["api", "subscriptions", "list", "--format", "json"], env=rig.env()
        )
        assert {s["id"] for s in json.loads(listed.stdout)["subscriptions"]} == {rig.sid, sid}


def test_an_invalid_config_file_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps({**V2, "kinds": ["NOPE"]}))
    result = CliRunner().invoke(
        cli, ["api", "subscriptions", "create", "--from-v2", str(config), "--dry-run"]
    )
    assert result.exit_code == 1
    assert "unknown v2 kind" in result.stderr


def _create(rig: Rig, config: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["api", "subscriptions", "create", "--from-v2", str(config), "--format", "json", *extra],
        env=rig.env(),
    )


def test_creating_the_same_subscription_twice_reuses_the_first(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps({**V2, "v3_endpoint": "https://new.example/v3"}))
    with make_rig(tmp_path) as rig:
        first = _create(rig, config)
        assert first.exit_code == 0, first.output
        sid = json.loads(first.stdout)["id"]
        before = set(rig.sim.world.subscriptions)
        again = _create(rig, config)
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["id"] == sid
        assert f"subscription {sid} already" in again.stderr
        assert "--allow-duplicate" in again.stderr
        assert set(rig.sim.world.subscriptions) == before  # nothing created
        # An event is delivered once to the new endpoint, not twice.
        watched = claims("entityUpdated", attributes=["email"])["events"]
        assert len(rig.sim.world.publish(watched)) == 2  # the seeded catch-all and ours


def test_allow_duplicate_creates_another(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps({**V2, "v3_endpoint": "https://new.example/v3"}))
    with make_rig(tmp_path) as rig:
        first = json.loads(_create(rig, config).stdout)["id"]
        second = _create(rig, config, "--allow-duplicate")
        assert second.exit_code == 0, second.output
        assert json.loads(second.stdout)["id"] != first


def test_another_endpoint_or_filter_is_not_a_duplicate(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps({**V2, "v3_endpoint": "https://new.example/v3"}))
    other_kinds = tmp_path / "v2-add.json"
    other_kinds.write_text(
        json.dumps({**V2, "kinds": ["ADD"], "v3_endpoint": "https://new.example/v3"})
    )
    with make_rig(tmp_path) as rig:
        ids = {json.loads(_create(rig, config).stdout)["id"]}
        ids.add(json.loads(_create(rig, other_kinds).stdout)["id"])
        moved = _create(rig, config, "--endpoint", "https://other.example/v3")
        ids.add(json.loads(moved.stdout)["id"])
        assert len(ids) == 3


def test_a_duplicate_match_ignores_a_trailing_slash_and_key_order() -> None:
    body = convert().body
    existing = {**body, "id": "s1", "endpoint": body["endpoint"] + "/"}
    existing["filter"] = json.loads(json.dumps(body["filter"], sort_keys=True))
    assert (
        subs.find_same([{"id": "s0", "endpoint": "https://x.example"}, existing], body) == existing
    )
    assert subs.find_same([existing], {**body, "endpoint": "https://x.example/v3"}) is None


def test_create_without_an_endpoint_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps(V2))
    result = CliRunner().invoke(
        cli, ["api", "subscriptions", "create", "--from-v2", str(config), "--dry-run"]
    )
    assert result.exit_code == 2, result.output
    assert "--endpoint" in result.stderr


def test_a_reused_subscription_that_is_disabled_is_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "v2.json"
    config.write_text(json.dumps({**V2, "v3_endpoint": "https://new.example/v3"}))
    with make_rig(tmp_path) as rig:
        sid = json.loads(_create(rig, config, "--disabled").stdout)["id"]
        again = _create(rig, config)
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["id"] == sid
        assert f"subscription {sid} is disabled" in again.stderr
