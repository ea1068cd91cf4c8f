"""Bulk exports of failed events: start, list, status, cancel, download, and why a file is missing.

``_links`` win over built paths: the docs name both ``/events/exports`` and ``/exports``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from adapters.timefmt import format_ms
from migrate.api import paths
from migrate.api.client import ApiClient, Retry
from migrate.api.errors import DownloadInterrupted, NotFound
from migrate.api.files import DownloadedFile, save_download
from migrate.api.models import RETENTION_DAYS, ExportJob, JobPhase

RETENTION = timedelta(days=RETENTION_DAYS)


def list_exports(client: ApiClient, sid: str) -> list[ExportJob]:
    """Jobs of the last 7 days, newest first."""
    jobs = [
        ExportJob.from_json(item)
        for item in client.iter_items(client.url(paths.exports(sid)), "exports")
    ]
    return sorted(jobs, key=lambda j: j.created_at or "", reverse=True)


def start_export(client: ApiClient, sid: str) -> ExportJob:
    """Start a job (POST, no body). Never repeated after an ambiguous failure (a second export
    could start); a 409 (:class:`~migrate.api.errors.Conflict`) means one is active or one
    already completed within 24 h."""
    resp = client.send("POST", client.url(paths.exports(sid)), retry=Retry.REFUSED)
    return ExportJob.from_json(client.decode(resp))


def _job_url(client: ApiClient, sid: str, job: ExportJob | str) -> str:
    if isinstance(job, ExportJob):
        return client.link_or(job.raw, "self", paths.export(sid, job.id))
    return client.url(paths.export(sid, job))


def _download_url(client: ApiClient, sid: str, job: ExportJob | str) -> str:
    if isinstance(job, ExportJob):
        return client.link_or(job.raw, "download", paths.download(sid, job.id))
    return client.url(paths.download(sid, job))


def get_export(client: ApiClient, sid: str, job: ExportJob | str) -> ExportJob:
    return ExportJob.from_json(client.get_json(_job_url(client, sid, job)))


def cancel_export(client: ApiClient, sid: str, job: ExportJob | str) -> ExportJob:
    """DELETE the job; answers with the job as it is afterwards."""
    resp = client.send("DELETE", _job_url(client, sid, job))
    answer = client.decode(resp)
    if isinstance(answer, dict) and "state" in answer:
        return ExportJob.from_json(answer)
    return get_export(client, sid, job)


class MissingCause(StrEnum):
    """Why ``/download`` answered 404 (the seed: check the job's state)."""

    NOT_READY = "not_ready"  # active: the file is still being written
    NEVER = "never"  # canceled (or failed): there will never be a file
    EXPIRED = "expired"  # older than 7 days: deleted, cannot be restored
    UNKNOWN = "unknown_id"  # no such job: a wrong id, or a job already deleted


class FileNotAvailable(NotFound):
    """A download 404, explained."""

    def __init__(self, job_id: str, cause: MissingCause, explanation: str, job: ExportJob | None):
        super().__init__(404, "GET", f"export {job_id}/download", "Not Found", explanation)
        self.args = (f"export {job_id}: no file to download: {explanation}",)
        self.job_id = job_id
        self.cause = cause
        self.explanation = explanation
        self.job = job


def explain_missing(client: ApiClient, sid: str, job_id: str) -> FileNotAvailable:
    """Check the job to say which of the three documented causes a download 404 has."""
    try:
        resp = client.send("GET", client.url(paths.export(sid, job_id)))
    except NotFound:
        return FileNotAvailable(
            job_id,
            MissingCause.UNKNOWN,
            "there is no export job with this id: the id is wrong, or the job is more than "
            f"{RETENTION_DAYS} days old (jobs and their files are deleted after "
            f"{RETENTION_DAYS} days and cannot be restored)",
            None,
        )
    job = ExportJob.from_json(client.decode(resp))
    now = client.server_now()
    phase = job.phase
    if phase is JobPhase.ACTIVE:
        return FileNotAvailable(
            job_id,
            MissingCause.NOT_READY,
            f"the job is still {job.state}: the file is not written yet; try again later",
            job,
        )
    if phase in (JobPhase.CANCELED, JobPhase.FAILED):
        return FileNotAvailable(
            job_id,
            MissingCause.NEVER,
            f"the job was {job.state}: there will never be a file for it",
            job,
        )
    finished = job.finished_at()
    if finished is not None and now - finished >= RETENTION:
        return FileNotAvailable(
            job_id,
            MissingCause.EXPIRED,
            f"the job finished at {format_ms(finished)}, more than {RETENTION_DAYS} days ago: "
            "its file has been deleted and cannot be restored",
            job,
        )
    return FileNotAvailable(
        job_id,
        MissingCause.NOT_READY,
        f"the job is {job.describe_state()} but its file is not there yet; "
        "it may still be being written: try again in a minute",
        job,
    )


@dataclass(frozen=True, slots=True)
class DownloadAttempts:
    """How often a download cut off mid-stream is started again from the beginning."""

    tries: int = 3


def download_export(
    client: ApiClient,
    sid: str,
    job: ExportJob | str,
    dest: Path,
    *,
    policy: DownloadAttempts = DownloadAttempts(),
) -> DownloadedFile:
    """Download the job's NDJSON file to ``dest`` atomically and record its ETag.

    A 404 is explained (:class:`FileNotAvailable`). A stream cut short is retried from the
    start; if it keeps failing nothing is left at ``dest``.
    """
    job_id = job.id if isinstance(job, ExportJob) else job
    url = _download_url(client, sid, job)
    attempt = 0
    while True:
        attempt += 1
        try:
            with client.stream(url) as resp:
                return save_download(
                    dest,
                    resp.chunks(),
                    etag=resp.header("etag"),
                    job_id=job_id,
                    subscription_id=sid,
                    downloaded_at=format_ms(client.clock.now()),
                )
        except NotFound:
            raise explain_missing(client, sid, job_id) from None
        except DownloadInterrupted:
            if attempt >= policy.tries:
                raise
            client.clock.sleep(client.backoff(attempt))
