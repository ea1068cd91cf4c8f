"""The listener (``serve``): RFC 8935 push delivery of v3 tokens and v2 callbacks, into the store.

- :mod:`.app` the ASGI application (routing, bodies, answers), callable without a socket;
- :mod:`.v3`, :mod:`.v2` what each route accepts; :mod:`.codes` reasons → RFC 8935 codes;
- :mod:`.writer` group commit; :mod:`.store` the transaction (rows by ``migrate.store.writes``);
- :mod:`.keys` pinned keys loaded in the background; :mod:`.metrics`, :mod:`.logs`;
- :mod:`.config` the settings, :mod:`.runner` granian.
"""

from migrate.serve.app import Listener, create_app
from migrate.serve.config import ServeConfig
from migrate.serve.runner import serve

__all__ = ["Listener", "ServeConfig", "create_app", "serve"]
