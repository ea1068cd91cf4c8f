"""Delivery fingerprints: one events-store observation of a delivery, stored once.

Kept apart from the models (no SQLAlchemy) so the lean SQLite ingest computes exactly the value
the model's column default does.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from adapters.timefmt import format_us

DELIVERY_OBSERVATION = (
    "event_id",
    "record_id",
    "state",
    "attempts",
    "status_code",
    "endpoint",
    "created_at",
    "updated_at",
)
"""What one events-store record says about a delivery: every ``deliveries`` column but the
surrogate ``id``, ``observed_at`` and the ``fingerprint`` derived from these."""


def delivery_fingerprint(observation: dict[str, Any]) -> str:
    """SHA-256 of a delivery observation (the :data:`DELIVERY_OBSERVATION` fields).

    Re-reading a record that has not changed gives the same fingerprint, so it adds no row; a
    change of state, attempts or times gives a new one, so the delivery's history stays visible.
    """
    values = [observation.get(name) for name in DELIVERY_OBSERVATION]
    canonical = [format_us(v) if isinstance(v, datetime) else v for v in values]
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()
