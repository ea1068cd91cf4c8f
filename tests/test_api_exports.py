"""Exports against the simulator: conflicts, 404s explained, unknown states, atomic downloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_api_support import Rig, make_rig

from migrate.api import events, exports
from migrate.api.errors import Conflict, DownloadInterrupted
from migrate.api.exports import FileNotAvailable, MissingCause
from migrate.api.files import load_download, meta_path
from migrate.api.models import JobPhase, phase_of
from migrate.simulator.faults import Fault

DAY = 86400


@pytest.fixture
def rig(tmp_path: Path):
    with make_rig(tmp_path, export_seconds=60) as rig:
        yield rig


def _finished(rig: Rig) -> exports.ExportJob:
    client = rig.client()
    job = exports.start_export(client, rig.sid)
    rig.clock.advance(61)
    return exports.get_export(client, rig.sid, job)


def test_an_export_holds_the_failed_events_and_empties_exportable(rig: Rig) -> None:
    client = rig.client()
    assert events.get_summary(client, rig.sid).exportable == 4
    job = _finished(rig)
    assert job.phase is JobPhase.FINISHED
    saved = exports.download_export(client, rig.sid, job, rig.tmp / "out.ndjson")
    lines = (rig.tmp / "out.ndjson").read_text().splitlines()
    failed = {
        r.raw["request"]["payload"] for r in events.list_events(client, rig.sid, state="failure")
    }
    assert saved.lines == len(lines) == len(failed) == 4
    assert all(set(json.loads(line)) >= {"iss", "iat", "jti", "events"} for line in lines)
    rig.clock.advance(DAY)  # the API recomputes its summary once a day
    assert events.get_summary(client, rig.sid).exportable == 0


def test_a_second_export_while_one_is_active_is_a_409(rig: Rig) -> None:
    client = rig.client()
    exports.start_export(client, rig.sid)
    with pytest.raises(Conflict, match="Too many active exports") as caught:
        exports.start_export(client, rig.sid)
    assert caught.value.status == 409
    assert caught.value.body == {
        "status": 409,
        "title": "Conflict",
        "details": "Too many active exports",
    }


def test_only_one_completed_export_per_24_hours(rig: Rig) -> None:
    client = rig.client()
    _finished(rig)
    with pytest.raises(Conflict):
        exports.start_export(client, rig.sid)
    rig.clock.advance(DAY)
    assert exports.start_export(client, rig.sid).phase is JobPhase.ACTIVE


def test_404_of_an_active_job_means_not_ready(rig: Rig) -> None:
    client = rig.client()
    job = exports.start_export(client, rig.sid)
    with pytest.raises(FileNotAvailable, match="not written yet") as caught:
        exports.download_export(client, rig.sid, job.id, rig.tmp / "x.ndjson")
    assert caught.value.cause is MissingCause.NOT_READY
    assert not (rig.tmp / "x.ndjson").exists()


def test_404_of_a_canceled_job_means_never(rig: Rig) -> None:
    client = rig.client()
    job = exports.start_export(client, rig.sid)
    canceled = exports.cancel_export(client, rig.sid, job.id)
    assert canceled.phase is JobPhase.CANCELED
    rig.clock.advance(120)
    with pytest.raises(FileNotAvailable, match="never be a file") as caught:
        exports.download_export(client, rig.sid, job.id, rig.tmp / "x.ndjson")
    assert caught.value.cause is MissingCause.NEVER
    # Canceling gives the events back: they can be exported again.
    rig.clock.advance(DAY)
    assert events.get_summary(client, rig.sid).exportable == 4


def test_404_of_a_job_older_than_7_days_means_expired(rig: Rig) -> None:
    client = rig.client()
    job = _finished(rig)
    rig.clock.advance(7 * DAY)
    with pytest.raises(FileNotAvailable, match="deleted and cannot be restored") as caught:
        exports.download_export(client, rig.sid, job, rig.tmp / "x.ndjson")
    assert caught.value.cause is MissingCause.EXPIRED


def test_404_of_an_unknown_or_long_gone_job_says_both(rig: Rig) -> None:
    client = rig.client()
    job = _finished(rig)
    rig.clock.advance(9 * DAY)  # the job record is gone too
    for job_id in (job.id, "00000000-dead-beef-0000-000000000000"):
        with pytest.raises(
            FileNotAvailable, match="id is wrong, or the job is more than 7 days"
        ) as caught:
            exports.download_export(client, rig.sid, job_id, rig.tmp / "x.ndjson")
        assert caught.value.cause is MissingCause.UNKNOWN


@pytest.mark.parametrize(
    ("state", "phase", "known"),
    [
        ("processing", JobPhase.ACTIVE, True),
        ("active", JobPhase.ACTIVE, True),
        ("canceled", JobPhase.CANCELED, True),
        ("completed", JobPhase.FINISHED, True),
        ("Succeeded", JobPhase.FINISHED, True),
        ("exported-ok", JobPhase.FINISHED, False),
    ],
)
def test_state_words(state: str, phase: JobPhase, known: bool) -> None:
    assert phase_of(state) == (phase, known)


def test_an_unknown_completed_word_is_accepted_and_named(tmp_path: Path) -> None:
    with make_rig(tmp_path, completed_state="exported-ok", export_seconds=1) as rig:
        client = rig.client()
        exports.start_export(client, rig.sid)
        rig.clock.advance(2)
        (job,) = exports.list_exports(client, rig.sid)
        assert job.state == "exported-ok"
        assert job.phase is JobPhase.FINISHED
        assert "'exported-ok' (not a state word this tool knows" in job.describe_state()
        assert exports.download_export(client, rig.sid, job, tmp_path / "x.ndjson").lines == 4


def test_a_download_records_its_etag_next_to_the_file(rig: Rig) -> None:
    job = _finished(rig)
    dest = rig.tmp / "d" / "x.ndjson"
    saved = exports.download_export(rig.client(), rig.sid, job, dest)
    assert saved.etag is not None
    assert saved.etag == rig.sim.world.exports[job.id].etag
    assert json.loads(meta_path(dest).read_text())["etag"] == saved.etag
    assert load_download(dest) == saved


def test_a_download_cut_off_mid_stream_leaves_no_file(rig: Rig) -> None:
    job = _finished(rig)
    rig.sim.inject(Fault(r"/download$", action="truncate", times=10))
    dest = rig.tmp / "d" / "x.ndjson"
    with pytest.raises(DownloadInterrupted, match="broke off"):
        exports.download_export(rig.client(), rig.sid, job, dest)
    assert list(dest.parent.iterdir()) == []
    assert rig.sim.count("GET", r"/download$") == 3  # started again from the beginning


def test_a_download_cut_off_once_is_started_again(rig: Rig) -> None:
    job = _finished(rig)
    rig.sim.inject(Fault(r"/download$", action="truncate"))
    dest = rig.tmp / "x.ndjson"
    saved = exports.download_export(rig.client(), rig.sid, job, dest)
    assert dest.read_bytes() == rig.sim.world.exports[job.id].content
    assert saved.lines == 4
    assert sorted(p.name for p in rig.tmp.iterdir()) == ["x.ndjson", "x.ndjson.meta.json"]


def test_cancel_of_a_finished_export_is_refused(rig: Rig) -> None:
    job = _finished(rig)
    with pytest.raises(Conflict):
        exports.cancel_export(rig.client(), rig.sid, job.id)
