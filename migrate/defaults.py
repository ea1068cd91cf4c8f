"""Defaults shared by the command line and the library (kept import-light for start-up).

Every environment variable the tool reads is named here, once.
"""

from typing import Final

STORE_URL_ENV: Final = "WEBHOOKS_MIGRATE_DB"
DEFAULT_STORE_URL: Final = "sqlite:///webhooks-v3.db"
"""The embedded default: a SQLite file in the working directory."""

# Token verification's key source and expectations (see migrate.verify.config).
JWKS_ENV: Final = "WEBHOOKS_MIGRATE_JWKS"
ISSUER_ENV: Final = "WEBHOOKS_MIGRATE_ISSUER"
AUDIENCE_ENV: Final = "WEBHOOKS_MIGRATE_AUDIENCE"

DEBUG_ENV: Final = "WEBHOOKS_MIGRATE_DEBUG"
V2_HASH_ENV: Final = "WEBHOOKS_MIGRATE_V2_HASH"
# The v2 archive's database (ingest --from v2-sql), and its password kept off the command line.
SOURCE_URL_ENV: Final = "WEBHOOKS_MIGRATE_SOURCE"
SOURCE_PASSWORD_ENV: Final = "WEBHOOKS_MIGRATE_SOURCE_PASSWORD"

# The Webhooks v3 API: where it is and which customer and subscription (see migrate.cli.base).
BASE_URL_ENV: Final = "WEBHOOKS_MIGRATE_API_URL"
CUSTOMER_ENV: Final = "WEBHOOKS_MIGRATE_CUSTOMER_ID"
SUBSCRIPTION_ENV: Final = "WEBHOOKS_MIGRATE_SUBSCRIPTION_ID"

# API credentials (see migrate.api.auth): a token, or a client id and secret; _FILE variants
# name a file holding the secret.
TOKEN_ENV: Final = "WEBHOOKS_MIGRATE_TOKEN"
TOKEN_FILE_ENV: Final = "WEBHOOKS_MIGRATE_TOKEN_FILE"
CLIENT_ID_ENV: Final = "WEBHOOKS_MIGRATE_CLIENT_ID"
CLIENT_SECRET_ENV: Final = "WEBHOOKS_MIGRATE_CLIENT_SECRET"
CLIENT_SECRET_FILE_ENV: Final = "WEBHOOKS_MIGRATE_CLIENT_SECRET_FILE"
