"""``api recover``: the documented best practice as one command that can be re-run at any point.

summary → (exportable > 0) start an export, or reuse the active one → poll until it finishes →
download → ingest → summary again.

Nothing is remembered between runs except what survives by itself, so an interruption at any
moment (Ctrl-C, a lost reply, a cut download) is resumed by running the command again:

* the API's list of exports says whether a job is running (then it is awaited, never
  duplicated) and which jobs finished in the last 7 days;
* a download is complete iff its file exists under its final name (written atomically);
* the store's ingest ledger knows which files were loaded (by sha256 and ETag), so loading one
  again inserts nothing.

Every finished export of the last 7 days is downloaded and loaded, not only one this command
started: a failed event can be exported only once, so a file nobody loaded is its only copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from adapters.timefmt import format_ms
from migrate.api.client import ApiClient
from migrate.api.errors import ApiError, ApiUnreachable, Conflict, ServerError
from migrate.api.events import get_summary
from migrate.api.exports import (
    FileNotAvailable,
    download_export,
    get_export,
    list_exports,
    start_export,
)
from migrate.api.files import file_name_for, load_download
from migrate.api.models import ExportJob, JobPhase, Summary
from migrate.errors import Interrupted

ONE_EXPORT_PER = timedelta(hours=24)


class Step(StrEnum):
    SUMMARY = "summary"
    EXPORT = "export"
    WAIT = "wait"
    DOWNLOAD = "download"
    INGEST = "ingest"
    SUMMARY_AFTER = "summary-after"


@dataclass(frozen=True, slots=True)
class Progress:
    step: Step
    message: str
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class IngestCounts:
    read: int
    inserted: int
    duplicates: int
    rejected: int
    already_ingested: bool


class Sink(Protocol):
    """Where snapshots and downloads go (the store: :class:`migrate.api.persist.StoreSink`)."""

    def save_summary(
        self, subscription_id: str, summary: Summary, fetched_at: datetime
    ) -> bool: ...

    def ingest(self, path: Path, etag: str | None) -> IngestCounts: ...


@dataclass(frozen=True, slots=True)
class RecoverOptions:
    download_dir: Path
    poll_initial: float = 2.0
    poll_max: float = 60.0
    wait_limit: float = 3600.0  # give up waiting (re-running resumes the wait)


class ExportStillRunning(ApiError):
    """The export did not finish within the wait limit; running recover again resumes."""


@dataclass
class JobOutcome:
    id: str
    state: str
    started: bool = False
    downloaded: bool = False  # in this run
    path: str | None = None
    etag: str | None = None
    lines: int | None = None
    ingest: IngestCounts | None = None
    unavailable: str | None = None  # why there is no file (FileNotAvailable cause)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "started": self.started,
            "downloaded": self.downloaded,
            "path": self.path,
            "etag": self.etag,
            "lines": self.lines,
            "unavailable": self.unavailable,
        }
        if self.ingest is not None:
            c = self.ingest
            data["ingest"] = {
                "read": c.read,
                "inserted": c.inserted,
                "duplicates": c.duplicates,
                "rejected": c.rejected,
                "already_ingested": c.already_ingested,
            }
        return data


@dataclass
class RecoverReport:
    subscription_id: str
    before: Summary | None = None
    after: Summary | None = None
    jobs: list[JobOutcome] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary_problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def rejected(self) -> int:
        return sum(j.ingest.rejected for j in self.jobs if j.ingest is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "summary_before": self.before.raw if self.before else None,
            "summary_after": self.after.raw if self.after else None,
            "exports": [j.to_json() for j in self.jobs],
            "changed": self.changed,
            "changes": self.changes,
            "warnings": self.warnings,
        }


class Recovery:
    """One run of the loop; :func:`recover` is the entry point."""

    def __init__(
        self,
        client: ApiClient,
        subscription_id: str,
        sink: Sink,
        options: RecoverOptions,
        on_progress: Callable[[Progress], None],
    ) -> None:
        self.client = client
        self.sid = subscription_id
        self.sink = sink
        self.options = options
        self.say = on_progress
        self.report = RecoverReport(subscription_id)

    def run(self) -> RecoverReport:
        before = self._summary(Step.SUMMARY)
        self.report.before = before
        jobs = list_exports(self.client, self.sid)
        active = [j for j in jobs if j.phase is JobPhase.ACTIVE]
        started_id: str | None = None
        if active:
            self.say(
                Progress(
                    Step.EXPORT,
                    f"export {active[0].id} is already {active[0].state}: "
                    "waiting for it instead of starting another",
                    active[0].id,
                )
            )
        elif before.exportable > 0:
            job, started = self._start(jobs)
            if job is not None:
                active = [job]
                started_id = job.id if started else None
        else:
            self.say(Progress(Step.EXPORT, "nothing is exportable: no export to start"))
        for job in active:
            self._wait(job)
        finished = [j for j in list_exports(self.client, self.sid) if j.phase is JobPhase.FINISHED]
        for job in sorted(finished, key=lambda j: j.created_at or ""):
            self._collect(job, started=job.id == started_id)
        after = self._summary(Step.SUMMARY_AFTER)
        self.report.after = after
        self._describe_summary_change(before, after)
        return self.report

    # -- steps ------------------------------------------------------------------------------

    def _summary(self, step: Step) -> Summary:
        summary = get_summary(self.client, self.sid)
        stored = self.sink.save_summary(self.sid, summary, self.client.clock.now())
        counts = ", ".join(f"{k} {v}" for k, v in summary.counts().items())
        self.say(
            Progress(
                step,
                f"summary of {summary.updated_at}: {counts}"
                + ("" if stored else " (snapshot already stored)"),
            )
        )
        for problem in summary.invariant_problems():
            warning = f"summary of {summary.updated_at} is inconsistent: {problem}"
            if warning not in self.report.warnings:
                self.report.warnings.append(warning)
                self.report.summary_problems.append(problem)
        return summary

    def _start(self, jobs: list[ExportJob]) -> tuple[ExportJob | None, bool]:
        """Start an export unless the API's limits say it would be refused anyway."""
        now = self.client.server_now()
        for job in jobs:
            done = job.finished_at()
            if job.phase is JobPhase.FINISHED and done is not None and now - done < ONE_EXPORT_PER:
                self.say(
                    Progress(
                        Step.EXPORT,
                        f"export {job.id} finished less than 24 h ago and the API allows one "
                        f"per 24 h: the next can start after {format_ms(done + ONE_EXPORT_PER)}",
                        job.id,
                    )
                )
                return None, False
        try:
            job = start_export(self.client, self.sid)
        except Conflict as exc:
            reuse = self._active_now()
            if reuse is None:
                self.report.warnings.append(f"the API refused to start an export: {exc.details}")
                self.say(
                    Progress(Step.EXPORT, f"the API refused to start an export: {exc.details}")
                )
                return None, False
            self.say(
                Progress(
                    Step.EXPORT,
                    f"the API refused a second export ({exc.details}): reusing export {reuse.id}",
                    reuse.id,
                )
            )
            return reuse, False
        except (ApiUnreachable, ServerError) as exc:
            # The job may have been created before the reply was lost: look, never re-POST.
            reuse = self._active_now()
            if reuse is None:
                raise
            self.say(
                Progress(
                    Step.EXPORT,
                    f"the reply to starting an export was lost ({exc}); export {reuse.id} "
                    f"is {reuse.state}: using it",
                    reuse.id,
                )
            )
            return reuse, True
        self.say(Progress(Step.EXPORT, f"started export {job.id} ({job.state})", job.id))
        self.report.changes.append(f"started export {job.id}")
        return job, True

    def _active_now(self) -> ExportJob | None:
        active = [j for j in list_exports(self.client, self.sid) if j.phase is JobPhase.ACTIVE]
        return active[0] if active else None

    def _wait(self, job: ExportJob) -> ExportJob:
        delay, waited = self.options.poll_initial, 0.0
        while job.phase is JobPhase.ACTIVE:
            if waited >= self.options.wait_limit:
                raise ExportStillRunning(
                    f"export {job.id} is still {job.state} after {waited:.0f}s; "
                    "run recover again later to resume waiting"
                )
            self.say(
                Progress(
                    Step.WAIT, f"export {job.id} is {job.state}; next check in {delay:.0f}s", job.id
                )
            )
            self.client.clock.sleep(delay)
            waited += delay
            delay = min(delay * 2, self.options.poll_max)
            job = get_export(self.client, self.sid, job)
        self.say(Progress(Step.WAIT, f"export {job.id} is {job.describe_state()}", job.id))
        if job.phase in (JobPhase.CANCELED, JobPhase.FAILED):
            self.report.jobs.append(JobOutcome(job.id, job.state, unavailable="never"))
            self.report.warnings.append(f"export {job.id} was {job.state}: it has no file")
        return job

    def _collect(self, job: ExportJob, *, started: bool) -> None:
        """Download (unless already on disk) and load one finished export."""
        outcome = JobOutcome(job.id, job.state, started=started)
        self.report.jobs.append(outcome)
        path = self.options.download_dir / file_name_for(job.id)
        saved = load_download(path)
        if saved is not None:
            self.say(
                Progress(Step.DOWNLOAD, f"export {job.id} is already downloaded: {path}", job.id)
            )
        else:
            try:
                saved = download_export(self.client, self.sid, job, path)
            except FileNotAvailable as exc:
                outcome.unavailable = str(exc.cause)
                self.report.warnings.append(str(exc))
                self.say(Progress(Step.DOWNLOAD, str(exc), job.id))
                return
            outcome.downloaded = True
            self.report.changes.append(f"downloaded export {job.id} ({saved.lines} lines)")
            self.say(
                Progress(
                    Step.DOWNLOAD,
                    f"downloaded export {job.id}: {saved.lines} lines, {saved.bytes} bytes, "
                    f"ETag {saved.etag or '(none)'} → {path}",
                    job.id,
                )
            )
        outcome.path, outcome.etag, outcome.lines = saved.path, saved.etag, saved.lines
        counts = self.sink.ingest(path, saved.etag)
        outcome.ingest = counts
        if counts.already_ingested:
            message = f"{path.name} was loaded before: nothing to load"
        else:
            message = (
                f"loaded {path.name}: {counts.inserted} new events, {counts.duplicates} already "
                f"in the store, {counts.rejected} rejected"
            )
            if counts.inserted or counts.rejected:
                self.report.changes.append(message)
        self.say(Progress(Step.INGEST, message, job.id))

    def _describe_summary_change(self, before: Summary, after: Summary) -> None:
        if after.updated_at == before.updated_at:
            return  # the API recomputes its summary at most daily: no change is no news
        deltas = [
            f"{k} {before.counts()[k]} → {v}"
            for k, v in after.counts().items()
            if before.counts()[k] != v
        ]
        if deltas:
            self.report.changes.append("summary: " + ", ".join(deltas))


def recover(
    client: ApiClient,
    subscription_id: str,
    sink: Sink,
    options: RecoverOptions,
    on_progress: Callable[[Progress], None] = lambda _: None,
) -> RecoverReport:
    """Run the loop once; safe to interrupt and run again (see the module docstring).

    Ctrl-C raises :class:`Interrupted` saying what was done (a file being loaded says through
    which line it was committed) and that running the same command resumes.
    """
    recovery = Recovery(client, subscription_id, sink, options, on_progress)
    try:
        return recovery.run()
    except KeyboardInterrupt:
        done = "; ".join(recovery.report.changes) or "nothing was changed yet"
        raise Interrupted(f"{done}; run the same command to resume") from None
    except Interrupted as exc:  # in the middle of loading a file: the ledger says how far
        done = "; ".join([*recovery.report.changes, str(exc)])
        raise Interrupted(done) from None
