"""How long a whole rehearsal takes, where the time goes, against its limits and a floor.

    .venv/bin/python bench/rehearse.py [--events 2000 20000] [--floor-tokens 2000]

For each size: the rehearsal end to end (``webhooks-migrate rehearse --format json`` in a
child process, as a user runs it), its steps and the stream's phases, and the ratio to the
issue's limit (2,000 changes in 60 s, 20,000 in 5 min). The floor, measured in the same run:
the same kind of listener (``serve`` on SQLite) receiving pre-signed tokens from the same POST
function with the delivery engine's concurrency (8), with no simulator, no v2 and no signing in
the loop: what the stream's "v3 first attempts" phase could at best cost per event.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from migrate.api.clock import ManualClock
from migrate.rehearse.listener import Listener, ListenerSettings
from migrate.simulator import SimConfig, Simulator, generate_changes
from migrate.simulator.delivery import SET_CONTENT_TYPE
from migrate.simulator.sender import post

LIMITS = {2000: 60.0, 20000: 300.0}


def rehearsal(events: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "migrate", "rehearse", "--dir", tmp, "--events", str(events),
             "--format", "json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
    report = json.loads(done.stdout)
    report["wall"] = wall
    return report


def floor(tokens: int) -> float:
    """Seconds per token for ``serve`` alone, fed pre-signed tokens 8 at a time."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(datetime.now(UTC))
        sim = Simulator(SimConfig(), clock=clock).start()
        cid = sim.config.customer_id
        listener = Listener(
            ListenerSettings(
                db_url=f"sqlite:///{tmp}/floor.db", base_url=sim.base_url, customer_id=cid,
                issuer=f"{sim.base_url}/{cid}/webhooks", v2_hash="x" * 32,
                log_path=Path(tmp) / "listener.log",
            )
        )  # fmt: skip
        try:
            listener.start()
            sub = sim.world.add_subscription(endpoint=listener.audience)
            sim.world.feed(generate_changes(tokens, seed=7, start=clock.now()), sid=sub.id)
            bodies = [e.token.encode() for e in sim.world.events.values()]
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                statuses = list(
                    pool.map(
                        lambda b: post(listener.audience, b, SET_CONTENT_TYPE, timeout=10), bodies
                    )
                )
            spent = time.perf_counter() - started
            assert statuses.count(202) == tokens, "the floor's listener refused tokens"
        finally:
            listener.stop()
            sim.stop()
    return spent / tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--floor-tokens", type=int, default=2000)
    args = parser.parse_args()
    per_token = floor(args.floor_tokens)
    print(f"floor: serve alone takes {per_token * 1000:.2f} ms per pre-signed token (8 at a time)")
    for events in args.events:
        r = rehearsal(events)
        limit = LIMITS.get(events)
        ratio = f", {r['wall'] / limit:.2f}x the {limit:.0f} s limit" if limit else ""
        print(f"\nrehearse --events {events}: {r['wall']:.1f} s wall, ready={r['ready']}{ratio}")
        steps = r["steps"]
        assert isinstance(steps, list)
        for step in steps:
            print(f"  {step['id']:<16} {step['seconds']:>7.2f} s")
            if step["id"] == "stream":
                for phase, seconds in sorted(step["numbers"]["seconds"].items()):
                    each = seconds / events * 1000
                    print(f"    {phase:<20} {seconds:>7.2f} s  {each:.2f} ms/change")
                first = step["numbers"]["seconds"].get("v3 first attempts", 0.0)
                print(
                    f"    v3 first attempts / floor: "
                    f"{first / events / per_token:.2f}x (the listener's own cost is the floor)"
                )


if __name__ == "__main__":
    main()
