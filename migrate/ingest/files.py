"""The files ingest reads: hashed for the ledger, stdin spooled so it can be resumed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def materialised(path: str) -> Iterator[str]:
    """stdin is spooled to a temporary file so it can be hashed, ledgered and resumed."""
    if path != "-":
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="webhooks-migrate-stdin-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
