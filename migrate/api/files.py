"""Downloaded export files on disk: written atomically, with a small sidecar recording the ETag.

A file at its final name is always complete: bytes go to a hidden temporary file in the same
directory, are flushed to disk, and only then renamed into place. A crash or a cut connection
leaves at most a ``.part`` file, which nothing reads and the next download removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

PART_SUFFIX = ".part"
META_SUFFIX = ".meta.json"


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    path: str
    etag: str | None
    sha256: str
    bytes: int
    lines: int
    job_id: str
    subscription_id: str
    downloaded_at: str


def file_name_for(job_id: str) -> str:
    """A safe file name for an export id (ids are UUIDs; anything else is made harmless)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", job_id).lstrip(".")
    return (safe or "export") + ".ndjson"


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + META_SUFFIX)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomically(path: Path, chunks: Iterable[bytes]) -> tuple[str, int, int]:
    """Write ``chunks`` to ``path`` atomically; return (sha256, bytes, lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix="." + path.name + ".", suffix=PART_SUFFIX, dir=path.parent
    )
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = lines = 0
    last = b"\n"
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
                if chunk:
                    last = chunk[-1:]
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    if last != b"\n":
        lines += 1  # a last line without its newline is still a line
    return digest.hexdigest(), size, lines


def save_download(
    path: Path,
    chunks: Iterable[bytes],
    *,
    etag: str | None,
    job_id: str,
    subscription_id: str,
    downloaded_at: str,
) -> DownloadedFile:
    """Store a download at ``path`` (atomically) and its sidecar ``<path>.meta.json``."""
    remove_stale_parts(path)
    sha256, size, lines = _write_atomically(path, chunks)
    record = DownloadedFile(
        str(path), etag, sha256, size, lines, job_id, subscription_id, downloaded_at
    )
    _write_atomically(meta_path(path), [json.dumps(asdict(record), indent=2).encode() + b"\n"])
    return record


def load_download(path: Path) -> DownloadedFile | None:
    """The record of a completed earlier download at ``path``, or None if there is none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(meta_path(path).read_text("utf-8"))
        return DownloadedFile(**data)
    except (OSError, ValueError, TypeError):
        return None  # the data file without its sidecar: treat as not downloaded


def remove_stale_parts(path: Path) -> None:
    """Temporary files left by an interrupted download of ``path``."""
    if path.parent.is_dir():
        for part in path.parent.glob("." + path.name + ".*" + PART_SUFFIX):
            part.unlink(missing_ok=True)
