"""The change stream both senders share: deterministic, realistic, and the same change in v2
and in v3 (entity, kind, occurred time) as the project's own adapters read them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.set_token import event_from_token
from adapters.unified import UnifiedEvent
from adapters.v2 import event_from_v2
from migrate.api.clock import ManualClock
from migrate.simulator import SigningKey, SimConfig, SimWorld, generate_changes

HASH = "1234567891234567891234567891234567891234"
CLIENT = "98765432198765432198765432198765"


def test_the_stream_is_deterministic_from_its_seed() -> None:
    assert generate_changes(300, seed=7) == generate_changes(300, seed=7)
    assert generate_changes(300, seed=7) != generate_changes(300, seed=8)
    assert generate_changes(300, seed=7)[:100] == generate_changes(100, seed=7)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), seed=st.integers(0, 2**32))
def test_entities_live_created_then_changed_then_deleted(n: int, seed: int) -> None:
    changes = generate_changes(n, seed=seed)
    assert [c.index for c in changes] == list(range(n))
    times = [c.occurred for c in changes]
    assert all(a < b for a, b in pairwise(times))  # no two v2 alike
    assert all(t.microsecond == 0 and t.tzinfo is UTC for t in times)
    lives: dict[str, list[str]] = defaultdict(list)
    for change in changes:
        lives[change.entity_id].append(change.kind)
        assert bool(change.attributes) == (change.kind == "UPDATE")
    for kinds in lives.values():
        assert kinds[0] == "ADD"
        assert "ADD" not in kinds[1:]
        assert "DELETE" not in kinds[:-1]  # nothing happens to an entity after its delete


def test_a_long_stream_has_every_kind_and_several_changes_per_entity() -> None:
    changes = generate_changes(2000, seed=1)
    kinds = {k: sum(1 for c in changes if c.kind == k) for k in ("ADD", "UPDATE", "DELETE")}
    assert all(kinds.values())
    assert kinds["UPDATE"] > kinds["ADD"] > kinds["DELETE"] / 2
    assert len(changes) / len({c.entity_id for c in changes}) >= 3


def _key(event: UnifiedEvent) -> tuple[object, ...]:
    return (event.entity_id, event.entity_type, event.event_type, event.occurred_at)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000))
def test_each_change_is_the_same_event_in_v2_and_in_v3(seed: int) -> None:
    changes = generate_changes(15, seed=seed, start=datetime(2025, 6, 1, 8, 30, 15, 999000, UTC))
    world = SimWorld(SimConfig(), ManualClock())
    world.add_subscription()
    ids = world.feed(changes)
    assert len(ids) == len(changes)
    for change, eid in zip(changes, ids, strict=True):
        v3 = event_from_token(world.events[eid].token)
        v2 = event_from_v2(
            change.v2_notification(HASH, CLIENT), kind=change.kind, expected_hash=HASH
        )
        assert isinstance(v3, UnifiedEvent)
        assert isinstance(v2, UnifiedEvent)
        assert _key(v2) == _key(v3)
        assert v3.payload["toe"] == change.toe
        assert v3.attributes == (change.attributes or None)
        assert v2.client_id == CLIENT
        assert v2.v2_hash == HASH


def test_feeding_can_forge_signatures_and_skew_times_for_rehearsed_faults() -> None:
    world = SimWorld(SimConfig(), ManualClock())
    world.add_subscription()
    changes = generate_changes(3, seed=9)
    forger = SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    forged = world.feed(changes[:1], key=forger)
    skewed = world.feed(changes[1:], toe_offset=600)
    published = jwt.PyJWKSet.from_dict(world.key.jwks())
    (token,) = [world.events[e].token for e in forged]
    assert jwt.get_unverified_header(token)["kid"] not in {k.key_id for k in published.keys}
    with pytest.raises(jwt.InvalidSignatureError):  # nor does the published key verify it
        jwt.decode(token, published.keys[0].key, ["RS256"], options={"verify_aud": False})
    assert [world.events[e].claims["toe"] for e in skewed] == [c.toe + 600 for c in changes[1:]]
