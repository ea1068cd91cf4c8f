"""Bulk exports of failed events in the simulated world: start, list, cancel, download.

Where the docs are silent: an export takes the failed, not yet exported events *when it
starts*; canceling it makes them exportable again; a file is deleted 7 days after its job
finished and the job record one more day later.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from adapters.timefmt import format_us
from migrate.simulator.base import WorldBase
from migrate.simulator.model import DAY, FAILURE, NOT_FOUND, Reply, SimExport, page, problem


class ExportsMixin(WorldBase):
    def export_json(self, job: SimExport) -> dict[str, Any]:
        href = self.export_href(job)
        links = {"self": {"href": href}}
        if job.state == self.config.completed_state:
            links["download"] = {"href": href + "/download"}
        return {
            "id": job.id,
            "createdAt": format_us(job.created_at),
            "updatedAt": format_us(job.updated_at),
            "state": job.state,
            "_links": links,
        }

    def list_exports(self, sid: str) -> Reply:
        with self.lock:
            self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            jobs = sorted(
                (j for j in self.exports.values() if j.subscription_id == sid),
                key=lambda j: j.created_at,
            )
            href = f"{self.sub_href(sid)}/{self.config.export_path}"
            return Reply(200, page([self.export_json(j) for j in jobs], "exports", href))

    def start_export(self, sid: str) -> Reply:
        with self.lock:
            now = self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            for job in self.exports.values():
                if job.subscription_id != sid:
                    continue
                recent = job.completed_at is not None and now - job.completed_at < DAY
                if job.state == self.config.active_state or recent:
                    return problem(409, "Conflict", "Too many active exports")
            chosen = [
                e.id
                for e in sorted(self.events.values(), key=lambda e: (e.created_at, e.id))
                if e.subscription_id == sid and e.state == FAILURE and e.exported_by is None
            ]
            job = SimExport(
                id=self.new_id(),
                subscription_id=sid,
                created_at=now,
                updated_at=now,
                finish_at=now + timedelta(seconds=self.config.export_seconds),
                state=self.config.active_state,
                event_ids=chosen,
            )
            for eid in chosen:
                self.events[eid].exported_by = job.id
            self.exports[job.id] = job
            return Reply(202, self.export_json(job))

    def _job(self, sid: str, xid: str) -> SimExport | None:
        self._tick()
        job = self.exports.get(xid)
        return job if job is not None and job.subscription_id == sid else None

    def get_export(self, sid: str, xid: str) -> Reply:
        with self.lock:
            job = self._job(sid, xid)
            return Reply(200, self.export_json(job)) if job else NOT_FOUND

    def cancel_export(self, sid: str, xid: str) -> Reply:
        with self.lock:
            job = self._job(sid, xid)
            if job is None:
                return NOT_FOUND
            if job.state == self.config.active_state:
                job.state = "canceled"
                job.updated_at = self.clock.now()
                for eid in job.event_ids:
                    if eid in self.events:
                        self.events[eid].exported_by = None
            elif job.state != "canceled":
                return problem(
                    409, "Conflict", f"export is {job.state}; only active exports can be canceled"
                )
            return Reply(200, self.export_json(job))

    def download(self, sid: str, xid: str) -> Reply:
        with self.lock:
            job = self._job(sid, xid)
            if job is None or job.content is None:
                return NOT_FOUND  # the real API says no more than this: see explain_missing
            return Reply(
                200, job.content, {"ETag": job.etag or ""}, content_type="application/x-ndjson"
            )
