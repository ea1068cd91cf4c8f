"""Removing an event stored unverified whose token a later run refuses: never one that another
process verified meanwhile (the delete is conditional, decided in the deleting transaction)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from test_ingest_trust import run, stored
from test_verify_support import (  # noqa: F401 - pytest fixtures are used by name
    Keys,
    header_for,
    jwks,
    jwks_file,
    keys,
    make_claims,
    sign,
)

from migrate.store import make_engine


@contextmanager
def verified_by_another_process_before_deleting(url: str, event_id: str) -> Iterator[None]:
    """Just before the ingest's first statement that deletes (or locks to delete) events,
    another connection marks ``event_id`` verified and commits, as a concurrent verified
    ingest of the same token would."""
    other = make_engine(url)
    fired: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = statement.lstrip().upper()
        if fired or conn.engine is other:
            return
        if text.startswith("DELETE") or (text.startswith("SELECT") and "FOR UPDATE" in text):
            fired.append(True)
            with other.begin() as c:
                c.execute(
                    sa.text("UPDATE events SET signature_verified = :t WHERE event_id = :k"),
                    {"t": True, "k": event_id},
                )

    event.listen(sa.Engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(sa.Engine, "before_cursor_execute", before)
        other.dispose()
    assert fired, "the ingest deleted nothing: the interleaving was not exercised"


def test_an_event_verified_meanwhile_is_not_removed(
    db_url: str, tmp_path: Path, keys: Keys, jwks_file: Path
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite ingest holds the one write lock while it reads and deletes")
    good = sign(keys.trusted[0], make_claims(jti="good"))
    signed = sign(keys.trusted[0], make_claims(jti="bad-signature"))
    head, _, signature = signed.rpartition(".")
    bad = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(good + "\n" + bad + "\n")
    assert run("--from", "set", str(tokens), "--db", db_url, "--no-verify")[0] == 0
    again = tmp_path / "again.txt"
    again.write_text("\n" + tokens.read_text())
    with verified_by_another_process_before_deleting(db_url, "bad-signature"):
        code, report, err = run(
            "--from", "set", str(again), "--db", db_url, "--jwks", str(jwks_file)
        )
    assert code == 1, err
    assert report["unverified_removed"] == 0
    assert stored(db_url) == [("bad-signature", True), ("good", True)]


def test_only_a_signature_that_fails_against_a_known_key_removes_an_unverified_event(
    db_url: str, tmp_path: Path, keys: Keys
) -> None:
    """Key rotation: tokens signed by a key the current JWKS no longer holds (or with no kid, or
    an alg this tool does not accept) are not proven forged; their events stay, unverified."""
    retired, current = keys.trusted[0], keys.trusted[1]
    signed = sign(current, make_claims(jti="bad-signature"))
    head, _, signature = signed.rpartition(".")
    lines = [
        sign(retired, make_claims(jti="retired-key")),
        sign(retired, make_claims(jti="no-kid"), header_for(retired, kid=None)),
        sign(current, make_claims(jti="rs512"), header_for(current, alg="RS512")),
        f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
    ]
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(lines) + "\n")
    assert run("--from", "set", str(tokens), "--db", db_url, "--no-verify")[0] == 0
    rotated = tmp_path / "jwks-now.json"
    rotated.write_text(json.dumps(jwks(current)))
    again = tmp_path / "again.txt"
    again.write_text("\n" + tokens.read_text())
    code, report, err = run("--from", "set", str(again), "--db", db_url, "--jwks", str(rotated))
    assert code == 1, err
    assert report["unverified_removed"] == 1
    assert stored(db_url) == [("no-kid", False), ("retired-key", False), ("rs512", False)]
