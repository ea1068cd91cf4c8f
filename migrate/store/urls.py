"""Which ``--db`` URLs the store accepts, checked before any driver sees one (standard library).

A bad URL is a usage error (exit 2) with a hint of the accepted forms, never a driver's
traceback or a silent default: a server URL must name its database.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from migrate.errors import BadStoreUrl

MYSQL_NAMES = ("mysql", "mariadb")
"""Dialect names of the MySQL family (SQLAlchemy calls MariaDB ``mariadb``)."""

BACKENDS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def check_store_url(url: str) -> None:
    """Raise :class:`BadStoreUrl` unless ``url`` is a store URL this tool can open."""
    if "://" not in url:
        hint = f" (a file? sqlite:///{url})" if not url.startswith("sqlite:") else ""
        raise BadStoreUrl(url, f"not a URL{hint}")
    scheme = url.split("://", 1)[0]
    backend = scheme.split("+", 1)[0].lower()
    if backend not in BACKENDS:
        raise BadStoreUrl(url, f"unknown backend {backend!r}")
    if backend == "sqlite":
        rest = url.split("://", 1)[1]
        if rest and not rest.startswith("/"):
            raise BadStoreUrl(url, "a SQLite URL has three slashes before a relative path")
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError as exc:
        raise BadStoreUrl(url, str(exc)) from None
    if not parts.hostname:
        raise BadStoreUrl(url, "no host")
    if not parts.path.strip("/"):
        raise BadStoreUrl(url, "no database name")
