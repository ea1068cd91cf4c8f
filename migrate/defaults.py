"""Defaults shared by the command line and the library (kept import-light for start-up)."""

from typing import Final

STORE_URL_ENV: Final = "WEBHOOKS_MIGRATE_DB"
DEFAULT_STORE_URL: Final = "sqlite:///webhooks-v3.db"
"""The embedded default: a SQLite file in the working directory."""

# Token verification's key source and expectations (see migrate.verify.config).
JWKS_ENV: Final = "WEBHOOKS_MIGRATE_JWKS"
ISSUER_ENV: Final = "WEBHOOKS_MIGRATE_ISSUER"
AUDIENCE_ENV: Final = "WEBHOOKS_MIGRATE_AUDIENCE"
