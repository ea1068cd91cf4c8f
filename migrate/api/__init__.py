"""The Identity Cloud Webhooks v3 API: a typed client, a local simulator, and the recovery loop.

Bottom up: :mod:`.transport` (one HTTP exchange over the standard library, safe redirects),
:mod:`.auth` (credentials from the environment, tokens), :mod:`.client` (auth, retries,
``_links``, pagination), :mod:`.models` and :mod:`.paths`, then one module per resource
(:mod:`.events`, :mod:`.exports`, :mod:`.subscriptions`), :mod:`.files` (atomic downloads) and
:mod:`.recover` on top. :mod:`.persist` is the only module that touches the store.
:mod:`.simulator` (with :mod:`.sim_world` and :mod:`.sim_keys`) serves the same API on
127.0.0.1 for tests and rehearsals; :mod:`.clock` lets both share a controllable time.
"""
