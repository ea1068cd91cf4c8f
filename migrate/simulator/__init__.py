"""A local stand-in for Identity Cloud: the Webhooks v3 API, its delivery of events, and a
Webhooks v2 sender, on 127.0.0.1, for tests and rehearsals.

Pure state and rules apart from transport: :mod:`.model` (records), :mod:`.world` (the state,
with :mod:`.base`, :mod:`.events` and :mod:`.exports`), :mod:`.schedule` (when attempts are
due), :mod:`.changes` (a deterministic stream of entity changes for both senders); and the thin
I/O on top: :mod:`.server` (the API over HTTP), :mod:`.delivery` (v3 deliveries to a
subscription's endpoint), :mod:`.v2` (v2 notifications to a listener), :mod:`.sender` (one POST).
:mod:`.keys` signs access tokens and events. Time is a :mod:`migrate.api.clock` clock.

A rehearsal in five calls::

    sim = Simulator(clock=ManualClock(datetime.now(UTC))).start()   # a free port
    sub = sim.world.add_subscription(endpoint=listener + "/v3")      # or via the API
    changes = generate_changes(2000, seed=1, start=...)
    sim.world.feed(changes, sid=sub.id)                              # signed v3 events
    sim.engine.run_until_quiescent()                                 # a day of retries, fast
    sim.world.counts(sub.id)   # {"total", "succeeded", "retrying", "failed", "exportable", …}
    V2Sender(clock=sim.clock).send(plan_v2(changes, V2Webhook.for_listener(listener, h, c)))
"""

from migrate.simulator.changes import Change, generate_changes
from migrate.simulator.delivery import DeliveryEngine, RunReport
from migrate.simulator.faults import Fault, Seen
from migrate.simulator.keys import SigningKey
from migrate.simulator.model import RETRY_DELAYS, SimConfig
from migrate.simulator.server import Simulator
from migrate.simulator.v2 import V2Post, V2Report, V2Sender, V2Webhook, plan_v2
from migrate.simulator.world import SimWorld

__all__ = [
    "RETRY_DELAYS",
    "Change",
    "DeliveryEngine",
    "Fault",
    "RunReport",
    "Seen",
    "SigningKey",
    "SimConfig",
    "SimWorld",
    "Simulator",
    "V2Post",
    "V2Report",
    "V2Sender",
    "V2Webhook",
    "generate_changes",
    "plan_v2",
]
