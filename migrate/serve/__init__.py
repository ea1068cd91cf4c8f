"""The listener (``serve``): RFC 8935 push delivery of v3 tokens and v2 callbacks, into the store.

- :mod:`.app` the ASGI application (routing, bodies, answers), callable without a socket;
- :mod:`.v3`, :mod:`.v2` what each route accepts; :mod:`.codes` reasons → RFC 8935 codes;
- :mod:`.writer` group commit; :mod:`.store` the transaction (rows by ``migrate.store.writes``);
- :mod:`.keys` pinned keys loaded in the background; :mod:`.metrics`, :mod:`.logs`;
- :mod:`.config` the settings, :mod:`.runner` granian.
"""

# Nothing is imported here: prometheus_client must first be imported in the worker processes,
# after the runner set its multiprocess directory (see migrate.serve.runner).
