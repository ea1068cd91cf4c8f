"""Every example payload in the seed documents converts to the unified event the contract names.

The expected events are written out field by field from the documents' text and PRODUCT.md's
table (epoch seconds worked out by hand: 1559372400 is 2019-06-01T07:00:00Z, and so on); they are
not produced by the code under test. Each example is a fixture file named for what it shows.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from strategies import SEED_TOKEN_CLAIMS
from strategies import SEED_V2_EVENT as V2_EVENT

from adapters.export import event_from_export_line
from migrate.convert import convert_files

FIXTURES = Path(__file__).parent / "fixtures"

# Seed 003: the decoded token, a userCredentialUpdated event whose aud is a plain string.
CREDENTIAL_CLAIMS = {
    "iss": "Akamai Identity Cloud",
    "iat": 1563488631,
    "jti": "b70046bd-44c7-4575-b1a2-9b8556d1f040",
    "aud": "https://example.com/path/to/endpoint",
    "txn": "00000000-0000-0000-0000-000000000000",
    "toe": 1559372400,
    "events": {
        "userCredentialUpdated": {
            "captureApplicationId": "zzyn9gy9r8xdy5zkru4y54syk6",
            "captureClientId": "elrrniux51a3nrhfwzklvz3t46lb5n2m",
            "entityType": "user",
            "globalSub": "capture-v1://us.janraincapture.com/zzyn9gy9r8xdy5zkru4y54syk6/user/"
            "6b004bc5-179c-45c2-815d-31b06169371d",
            "sub": "6b004bc5-179c-45c2-815d-31b06169371d",
            "credentialType": "password",
            "id": "00000000-0000-0000-0000-000000000000",
        }
    },
}
CREDENTIAL_EVENT = {
    "event_id": "b70046bd-44c7-4575-b1a2-9b8556d1f040",
    "source": "v3",
    "event_type": "userCredentialUpdated",
    "entity_type": "user",
    "entity_id": "6b004bc5-179c-45c2-815d-31b06169371d",
    "occurred_at": "2019-06-01T07:00:00.000Z",  # toe 1559372400 (seconds)
    "issued_at": "2019-07-18T22:23:51.000Z",  # iat 1563488631
    "client_id": "elrrniux51a3nrhfwzklvz3t46lb5n2m",
    "application_id": "zzyn9gy9r8xdy5zkru4y54syk6",
    "global_sub": "capture-v1://us.janraincapture.com/zzyn9gy9r8xdy5zkru4y54syk6/user/"
    "6b004bc5-179c-45c2-815d-31b06169371d",
    "issuer": "Akamai Identity Cloud",
    "audience": ["https://example.com/path/to/endpoint"],  # a string aud: a one-element list
    "transaction_id": "00000000-0000-0000-0000-000000000000",
    "event_object_id": "00000000-0000-0000-0000-000000000000",
    "attributes": None,
    "credential_type": "password",
    "v2_hash": None,
    "payload": CREDENTIAL_CLAIMS,
}

# Seed 001: the token inside the events-store record, an entityUpdated event, toe in ms.
UPDATED_CLAIMS = SEED_TOKEN_CLAIMS
UPDATED_EVENT = {
    "event_id": "1e569bb5-c21d-4e9c-a1aa-7ec3b831bda2",
    "source": "v3",
    "event_type": "entityUpdated",
    "entity_type": "user",
    "entity_id": "e499ac24-46bd-4d85-91ee-bdeadd446c1e",
    "occurred_at": "2020-01-27T16:53:50.739Z",  # toe 1580144030739 is milliseconds
    "issued_at": "2020-01-27T16:53:50.000Z",  # iat 1580144030
    "client_id": "3fp4zt9t256jqk4tx35wuj4ap2e53hq9",
    "application_id": "3vadba3vhqpkdgtsrqd4st76m3",
    "global_sub": "capture-v1://app.capture.multi.dev.or.janrain.com/"
    "3vadba3vhqpkdgtsrqd4st76m3/user/e499ac24-46bd-4d85-91ee-bdeadd446c1e",
    "issuer": "https://api.multi.dev.or.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
    "audience": ["https://webhook.site/46ff3c5e-ae95-43df-b32d-d07bb84746b4"],
    "transaction_id": "00000000-0000-0000-0000-000000000000",
    "event_object_id": None,  # this event object has no id
    "attributes": ["familyName"],
    "credential_type": None,
    "v2_hash": None,
    "payload": UPDATED_CLAIMS,
}
UPDATED_DELIVERY = {
    "state": "success",
    "attempts": 1,
    "status_code": 200,
    "endpoint": "https://webhook.site/46ff3c5e-ae95-43df-b32d-d07bb84746b4",
    "created_at": "2020-01-27T16:53:50.815Z",  # 16:53:50.815936Z, truncated to ms
    "updated_at": "2020-01-27T16:53:51.554Z",
    "record_id": "28da8068-61cc-4af3-8d5e-ae49a02dd47b",
}

# Seed 000: one line of a bulk-export file (decoded payload only), an entityCreated event.
EXPORT_CLAIMS = {
    "iss": "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
    "iat": 1568312175,
    "jti": "519a08c4-3016-4cad-9b10-feb49fcd133a",
    "aud": ["https://example.com/path/to/endpoint"],
    "txn": "00000000-0000-0000-0000-000000000000",
    "toe": 1559372000,
    "events": {
        "entityCreated": {
            "captureApplicationId": "aaaaaaaaaaaaaaaaaaaaaaaaaa",
            "captureClientId": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "entityType": "user",
            "globalSub": "capture-v1://us.janraincapture.com/aaaaaaaaaaaaaaaaaaaaaaaaaa/user/"
            "00000000-0000-0000-0000-000000000000",
            "sub": "00000000-0000-0000-0000-000000000000",
            "id": "00000000-0000-0000-0000-000000000000",
        }
    },
}
EXPORT_EVENT = {
    "event_id": "519a08c4-3016-4cad-9b10-feb49fcd133a",
    "source": "v3",
    "event_type": "entityCreated",
    "entity_type": "user",
    "entity_id": "00000000-0000-0000-0000-000000000000",
    "occurred_at": "2019-06-01T06:53:20.000Z",  # toe 1559372000
    "issued_at": "2019-09-12T18:16:15.000Z",  # iat 1568312175
    "client_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "application_id": "aaaaaaaaaaaaaaaaaaaaaaaaaa",
    "global_sub": "capture-v1://us.janraincapture.com/aaaaaaaaaaaaaaaaaaaaaaaaaa/user/"
    "00000000-0000-0000-0000-000000000000",
    "issuer": "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/webhooks",
    "audience": ["https://example.com/path/to/endpoint"],
    "transaction_id": "00000000-0000-0000-0000-000000000000",
    "event_object_id": "00000000-0000-0000-0000-000000000000",
    "attributes": None,
    "credential_type": None,
    "v2_hash": None,
    "payload": EXPORT_CLAIMS,
}


def convert(name: str, kind: str) -> tuple[list[dict[str, Any]], list[Any]]:
    out = io.BytesIO()
    rejected: list[Any] = []
    counts = convert_files([str(FIXTURES / name)], kind, out, on_reject=rejected.append)
    assert counts.read == counts.converted + counts.rejected
    return [json.loads(line) for line in out.getvalue().splitlines()], rejected


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("seed-v2-payload.json", "v2", V2_EVENT),
        ("seed-set-wrapped-token.txt", "set", UPDATED_EVENT),
        ("set-wrapped-token-nbsp-indent.txt", "set", UPDATED_EVENT),
        ("seed-export-line.ndjson", "export", EXPORT_EVENT),
        (
            "seed-events-record-wrapped-token.json",
            "events",
            {**UPDATED_EVENT, "delivery": UPDATED_DELIVERY},
        ),
    ],
)
def test_each_seed_file_converts_to_its_unified_event(
    name: str, kind: str, expected: dict[str, Any]
) -> None:
    events, rejected = convert(name, kind)
    assert rejected == []
    assert events == [expected]
    assert list(events[0]) == list(expected)  # the schema's key order, delivery last


def test_the_decoded_token_with_a_string_audience() -> None:
    claims = json.loads((FIXTURES / "seed-decoded-set-aud-string.json").read_text("utf-8"))
    assert claims == CREDENTIAL_CLAIMS  # the fixture is the document's example
    assert event_from_export_line(claims).to_json() == CREDENTIAL_EVENT


def test_the_seed_summary_and_header_are_the_documents_examples() -> None:
    assert json.loads((FIXTURES / "seed-summary.json").read_text("utf-8")) == {
        "updatedAt": "2020-01-01T00:00:00.000000001Z",
        "total": 100,
        "succeeded": 70,
        "retrying": 12,
        "failed": 18,
        "exportable": 5,
    }
    assert json.loads((FIXTURES / "seed-set-header-jku-typ.json").read_text("utf-8")) == {
        "jku": "https://api.multi.dev.or.janrain.com/00000000-0000-0000-0000-000000000000/login/jwk",
        "alg": "RS256",
        "kid": "1dc12073699c68c1daee6c9a100e2b43febdcd92",
        "typ": "secevent+jwt",
    }


@pytest.mark.parametrize(
    "name", ["seed-truncated-token-events-store-doc.txt", "seed-truncated-token-migration-doc.txt"]
)
def test_the_documents_truncated_tokens_are_rejected_not_lost(name: str) -> None:
    events, rejected = convert(name, "set")
    assert events == []
    assert [(r.line, r.pointer, r.reason) for r in rejected] == [(1, "/header", "bad_token")]
