"""Hypothesis strategies shared by the test modules (``from strategies import ...``).

tests/ has no ``__init__.py``: pytest's default ``prepend`` import mode puts this directory on
``sys.path``, so this is a plain top-level module.

Everything here builds *inputs* the way the outside world writes them (v2 notifications, v3
claims, compact tokens, events-store records) without calling the code under test, so that
expectations derived from the generated structure are independent of it.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from hypothesis import strategies as st

from adapters.errors import Rejection

# --- JSON values -------------------------------------------------------------------------------

# Integers beyond 64 bits on purpose: JSON has no limit and the readers promise not to lose them.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)

json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)

json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)

# The same without integers beyond 64 bits (for inputs decoded by orjson, which turns them into
# floats: see test_adapters_set_token.test_big_integers_in_token_claims_are_kept).
json_values_64 = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)


# Seed 003: the v2 notification (a pretty-printed JSON array).
SEED_V2_NOTIFICATION: dict[str, Any] = {
    "uuid": "12345678-4321-1234-4321-123456789123",
    "entity_type": "user",
    "datetime": "2012-04-07T22:26:10.947Z",
    "hash": "1234567891234567891234567891234567891234",
    "client_id": "98765432198765432198765432198765",
}
SEED_V2_EVENT: dict[str, Any] = {
    # UUIDv5 of the notification (see test_adapters_v2.test_seed_id_is_the_pinned_uuid5).
    "event_id": "1b257a32-51ab-51b9-bb84-6a446f04ea63",
    "source": "v2",
    "event_type": None,  # the webhook's kind was not named
    "entity_type": "user",
    "entity_id": "12345678-4321-1234-4321-123456789123",
    "occurred_at": "2012-04-07T22:26:10.947Z",
    "issued_at": None,
    "client_id": "98765432198765432198765432198765",
    "application_id": None,
    "global_sub": None,
    "issuer": None,
    "audience": [],
    "transaction_id": None,
    "event_object_id": None,
    "attributes": None,
    "credential_type": None,
    "v2_hash": "1234567891234567891234567891234567891234",
    "payload": SEED_V2_NOTIFICATION,
}

# Seed 001: the claims of the token inside the events-store record (an entityUpdated event, toe in
# milliseconds), decoded by hand from its base64url text.
SEED_TOKEN_CLAIMS: dict[str, Any] = {
    "aud": ["https://webhook.site/46ff3c5e-ae95-43df-b32d-d07bb84746b4"],
    "events": {
        "entityUpdated": {
            "attributes": ["familyName"],
            "captureApplicationId": "3vadba3vhqpkdgtsrqd4st76m3",
            "captureClientId": "3fp4zt9t256jqk4tx35wuj4ap2e53hq9",
            "entityType": "user",
            "globalSub": "capture-v1://app.capture.multi.dev.or.janrain.com/"
            "3vadba3vhqpkdgtsrqd4st76m3/user/e499ac24-46bd-4d85-91ee-bdeadd446c1e",
            "sub": "e499ac24-46bd-4d85-91ee-bdeadd446c1e",
        }
    },
    "iat": 1580144030,
    "iss": "https://api.multi.dev.or.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
    "jti": "1e569bb5-c21d-4e9c-a1aa-7ec3b831bda2",
    "toe": 1580144030739,
    "txn": "00000000-0000-0000-0000-000000000000",
}


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with top-level members replaced; ``...`` removes a member."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def dumps(value: Any) -> str:
    """Compact JSON text the way any producer writes it (big integers included)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


T = TypeVar("T")


def outcome(convert: Callable[[Any], T], value: Any) -> T | Rejection:
    """What an adapter makes of ``value``: its result, or the Rejection it raised."""
    try:
        return convert(value)
    except Rejection as rejection:
        return rejection


def json_key(value: Any) -> str:
    """A key that tells two JSON values apart exactly as JSON does (``1``, ``1.0``, ``true``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# --- RFC 3339 timestamps with a known instant -----------------------------------------------------


@dataclass(frozen=True)
class Timestamp:
    """An RFC 3339 text together with the exact instant it denotes (computed independently)."""

    text: str
    seconds: datetime  # UTC, whole seconds
    fraction: Fraction  # the exact sub-second part, any precision

    @property
    def instant(self) -> tuple[datetime, Fraction]:
        return (self.seconds, self.fraction)


@st.composite
def rfc3339(draw: st.DrawFn, *, min_year: int = 1900, max_year: int = 2100) -> Timestamp:
    local = draw(
        st.datetimes(
            min_value=datetime(min_year, 1, 1), max_value=datetime(max_year, 12, 31, 23, 59, 59)
        )
    ).replace(microsecond=0)
    digits = draw(st.text(alphabet=string.digits, min_size=0, max_size=9))
    offset_minutes = draw(st.sampled_from([0, 0, 0, 60, -300, 330, 345, -570, 840, -720]))
    if offset_minutes == 0:
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+0000"]))
    else:
        sign = "+" if offset_minutes > 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        colon = draw(st.sampled_from([":", ""]))
        zone = f"{sign}{hours:02d}{colon}{minutes:02d}"
    separator = draw(st.sampled_from(["T", "T", "t", " "]))
    text = local.strftime("%Y-%m-%d") + separator + local.strftime("%H:%M:%S")
    if digits:
        text += "." + digits
    text += zone
    utc = local.replace(tzinfo=UTC) - timedelta(minutes=offset_minutes)
    fraction = Fraction(int(digits), 10 ** len(digits)) if digits else Fraction(0)
    return Timestamp(text, utc, fraction)


def ms_text(seconds: datetime, fraction: Fraction) -> str:
    """The unified format for an instant: UTC, milliseconds truncated, ``Z``."""
    s, millis = seconds, int(fraction * 1000)
    day = f"{s.year:04d}-{s.month:02d}-{s.day:02d}"
    return f"{day}T{s.hour:02d}:{s.minute:02d}:{s.second:02d}.{millis:03d}Z"


# --- Webhooks v2 --------------------------------------------------------------------------------

V2_FIELDS = ("uuid", "entity_type", "datetime", "hash", "client_id")

v2_uuids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
nonempty_text = st.text(min_size=1, max_size=20)


@st.composite
def v2_notifications(draw: st.DrawFn, *, extra: bool = True) -> tuple[dict[str, Any], Timestamp]:
    """A valid v2 notification and the timestamp (with its exact instant) it carries."""
    when = draw(rfc3339())
    notification: dict[str, Any] = {
        "uuid": draw(v2_uuids),
        "entity_type": draw(st.sampled_from(["user", "petition"]) | nonempty_text),
        "datetime": when.text,
        "hash": draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)),
        "client_id": draw(st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1)),
    }
    if extra:
        notification.update(
            draw(
                st.dictionaries(
                    st.text(max_size=6).filter(lambda k: k not in V2_FIELDS),
                    json_values,
                    max_size=2,
                )
            )
        )
    return notification, when


def v2_identity(notification: dict[str, Any], when: Timestamp) -> str:
    """What makes two notifications the same notification: every field, the time as an instant."""
    fields = {k: v for k, v in notification.items() if k != "datetime"}
    seconds, fraction = when.instant
    return json_key(fields) + "|" + seconds.isoformat() + "|" + str(fraction)


# --- Webhooks v3 claims, tokens and events-store records ---------------------------------------

MAX_EPOCH_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
CLAIM_NAMES = ("iss", "iat", "jti", "aud", "txn", "toe", "events")
BODY_NAMES = (
    "captureApplicationId",
    "captureClientId",
    "entityType",
    "globalSub",
    "sub",
    "id",
    "attributes",
    "credentialType",
)
EVENT_TYPES = ["entityCreated", "entityUpdated", "entityDeleted", "userCredentialUpdated", "test"]

epoch_seconds = st.integers(min_value=0, max_value=MAX_EPOCH_SECONDS)
# toe in milliseconds is what the events-store token carries (1580144030739).
epoch_millis = st.integers(min_value=100_000_000_000, max_value=MAX_EPOCH_SECONDS * 1000)
epoch_fractional = st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False)

event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "captureApplicationId": st.text(max_size=26),
        "captureClientId": st.text(max_size=32),
        "entityType": st.sampled_from(["user", "petition"]) | st.text(max_size=8),
        "globalSub": st.text(max_size=40),
        "sub": st.uuids().map(str) | st.text(max_size=255),
        "id": st.uuids().map(str),
        "attributes": st.lists(st.text(max_size=12), max_size=4),
        "credentialType": st.sampled_from(["password", "otp"]),
        "vendorExtension": json_values,
    },
)


@st.composite
def v3_claims(
    draw: st.DrawFn, *, extra: bool = True, values: st.SearchStrategy[Any] = json_values
) -> dict[str, Any]:
    """Valid decoded SET claims (= one bulk-export line), in every shape the docs show."""
    event_type = draw(st.sampled_from(EVENT_TYPES) | st.text(min_size=1, max_size=20))
    claims: dict[str, Any] = {
        "iss": draw(st.sampled_from(["Akamai Identity Cloud"]) | nonempty_text),
        "iat": draw(epoch_seconds | epoch_fractional),
        "jti": draw(st.uuids().map(str) | st.text(min_size=1, max_size=255)),
        "events": {event_type: draw(event_bodies)},
    }
    optional = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "aud": st.text(max_size=30) | st.lists(st.text(max_size=30), max_size=3),
                "txn": st.uuids().map(str),
                "toe": epoch_seconds | epoch_millis | epoch_fractional,
            },
        )
    )
    claims.update(optional)
    if extra:
        claims.update(
            draw(
                st.dictionaries(
                    st.text(max_size=6).filter(lambda k: k not in CLAIM_NAMES),
                    values,
                    max_size=2,
                )
            )
        )
    return claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


HEADER_ALG_KID = {"alg": "RS256", "kid": "1dc12073699c68c1daee6c9a100e2b43febdcd92"}
HEADER_JKU_TYP = {
    "jku": "https://api.multi.dev.or.janrain.com/00000000-0000-0000-0000-000000000000/login/jwk",
    "alg": "RS256",
    "kid": "5b053afb63776a127ec5c18bb543e3bcceef4160",
    "typ": "secevent+jwt",
}


def compact(
    header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"\x01" * 256
) -> str:
    """A compact JWS exactly as a sender builds it (the signature is not a real one)."""
    return ".".join(
        [b64url(dumps(header).encode()), b64url(dumps(claims).encode()), b64url(signature)]
    )


@st.composite
def wrapped(draw: st.DrawFn, token: str) -> str:
    """A token as copied out of documentation: wrapped, indented, with Markdown ``\\_`` escapes."""
    width = draw(st.integers(min_value=20, max_value=90))
    pieces = [token[i : i + width] for i in range(0, len(token), width)]
    trailing = draw(st.sampled_from(["", "  ", "\u00a0 ", " \t"]))
    text = (trailing + "\n").join(pieces)
    if draw(st.booleans()):
        text = text.replace("_", "\\_")
    return text


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(compact token, header, claims)``."""
    header = dict(draw(st.sampled_from([HEADER_ALG_KID, HEADER_JKU_TYP])))
    claims = draw(v3_claims(values=json_values_64))
    signature = draw(st.binary(min_size=1, max_size=300))
    return compact(header, claims, signature), header, claims


@st.composite
def events_records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(events-store record, the claims inside its token)``."""
    token, _header, claims = draw(tokens())
    ((event_type, _body),) = claims["events"].items()
    created = draw(rfc3339(min_year=2000, max_year=2099))
    record: dict[str, Any] = {
        "id": str(draw(st.uuids())),
        "createdAt": created.text,
        "updatedAt": created.text,
        "state": draw(st.sampled_from(["success", "failure", "retrying"])),
        "attempts": draw(st.integers(min_value=0, max_value=6)),
        "request": {
            "endpoint": "https://webhook.site/46ff3c5e-ae95-43df-b32d-d07bb84746b4",
            "headers": {"Content-Type": "application/secevent+jwt"},
            "payload": draw(st.just(token) | wrapped(token)),
        },
    }
    if draw(st.booleans()):
        record["response"] = {"statusCode": draw(st.sampled_from([200, 202, 404, 500]))}
    if draw(st.booleans()):
        record["eventType"] = event_type
    return record, claims


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def export_claims(n: int, *, event_type: str = "entityCreated") -> dict[str, Any]:
    """A valid export line, distinct for each ``n``."""
    sub = str(uuid.UUID(int=n + 1))
    return {
        "iss": "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
        "iat": 1_568_312_175 + n,
        "jti": f"jti-{n:06d}",
        "aud": ["https://example.com/path/to/endpoint"],
        "txn": "00000000-0000-0000-0000-000000000000",
        "toe": 1_559_372_000 + n,
        "events": {event_type: {"entityType": "user", "sub": sub, "id": str(uuid.UUID(int=n))}},
    }
