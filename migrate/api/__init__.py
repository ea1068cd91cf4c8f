"""The Identity Cloud Webhooks v3 API: a typed client and the recovery loop.

Bottom up: :mod:`.transport` (one HTTP exchange over the standard library, safe redirects),
:mod:`.auth` (credentials from the environment, tokens), :mod:`.client` (auth, retries,
``_links``, pagination), :mod:`.models` and :mod:`.paths`, then one module per resource
(:mod:`.events`, :mod:`.exports`, :mod:`.subscriptions`), :mod:`.files` (atomic downloads) and
:mod:`.recover` on top. :mod:`.persist` is the only module that touches the store.
:mod:`.clock` lets the client and the simulator (:mod:`migrate.simulator`, a stand-in for
Identity Cloud on 127.0.0.1) share a controllable time.
"""
