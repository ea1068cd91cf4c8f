"""Pure functions that turn every Webhooks input shape into one unified event.

One module per input shape: :mod:`adapters.v2` (v2 notifications), :mod:`adapters.set_token`
(v3 security event tokens), :mod:`adapters.export` (bulk-export NDJSON lines) and
:mod:`adapters.events_store` (events-store records). They share :mod:`adapters.claims`.
Nothing here does I/O beyond reading the shipped JSON Schemas once.
"""

from adapters.errors import Reason, Rejection
from adapters.unified import Delivery, UnifiedEvent

__all__ = ["Delivery", "Reason", "Rejection", "UnifiedEvent"]
