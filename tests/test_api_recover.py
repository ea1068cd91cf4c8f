"""The recover loop against the simulator and a SQLite store: whole, re-run, interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_api_support import Rig, make_rig

from migrate.api.errors import ApiUnreachable, DownloadInterrupted, ServerError
from migrate.api.recover import (
    ExportStillRunning,
    Progress,
    RecoverOptions,
    RecoverReport,
    Step,
    recover,
)
from migrate.simulator.faults import Fault

EXPORTS = r"/exports$"
DAY = 86400


class Interrupted(Exception):
    """Stands for Ctrl-C or a crash at a chosen moment."""


@pytest.fixture
def rig(tmp_path: Path):
    with make_rig(tmp_path, export_seconds=5) as rig:
        yield rig


def run(rig: Rig, seen: list[Progress] | None = None, **options: float) -> RecoverReport:
    opts = RecoverOptions(rig.tmp / "downloads", poll_initial=1.0, **options)
    return recover(
        rig.client(), rig.sid, rig.sink(), opts, (seen if seen is not None else []).append
    )


def assert_recovered_once(rig: Rig) -> None:
    """The state one clean run leaves: one export, its 4 events loaded once, one ledger row."""
    assert rig.sim.count("POST", EXPORTS) == 1
    assert len(rig.sim.world.exports) == 1
    assert rig.count("events") == 4
    assert rig.count("ingest_files") == 1
    files = list((rig.tmp / "downloads").iterdir())
    assert sorted(p.suffix for p in files) == [".json", ".ndjson"]


def test_the_whole_loop(rig: Rig) -> None:
    seen: list[Progress] = []
    report = run(rig, seen)
    assert [p.step for p in seen] == [
        Step.SUMMARY,
        Step.EXPORT,
        Step.WAIT,
        Step.WAIT,
        Step.WAIT,  # pauses of 1, 2 and 4 s (simulated) ...
        Step.WAIT,  # ... after which the 5 s export is done
        Step.DOWNLOAD,
        Step.INGEST,
        Step.SUMMARY_AFTER,
    ]
    assert report.before is not None
    assert report.before.exportable == 4
    (job,) = report.jobs
    assert job.started
    assert job.downloaded
    assert job.ingest is not None
    assert (job.ingest.inserted, job.ingest.rejected, job.lines) == (4, 0, 4)
    assert report.changed
    assert report.warnings == []
    assert_recovered_once(rig)
    assert rig.count("summaries") == 1  # before and after are the same API snapshot
    # The loaded events are exactly the ones that failed delivery.
    failed = {e.claims["jti"] for e in rig.sim.world.events.values() if e.state == "failure"}
    with rig.sink().engine.connect() as conn:
        from sqlalchemy import text

        stored = {row[0] for row in conn.execute(text("SELECT event_id FROM events"))}
    assert stored == failed


def test_running_it_again_changes_nothing(rig: Rig) -> None:
    run(rig)
    seen: list[Progress] = []
    again = run(rig, seen)
    assert not again.changed
    assert again.changes == []
    (job,) = again.jobs
    assert not job.started
    assert not job.downloaded
    assert job.ingest is not None
    assert job.ingest.already_ingested
    assert "finished less than 24 h ago" in next(p.message for p in seen if p.step is Step.EXPORT)
    assert rig.sim.count("GET", r"/download$") == 1
    assert_recovered_once(rig)


def test_a_day_later_new_failures_get_a_new_export(rig: Rig) -> None:
    run(rig)
    rig.clock.advance(DAY)
    rig.sim.world.seed(rig.sid, failed=2)
    report = run(rig)
    started = [j for j in report.jobs if j.started]
    assert len(started) == 1
    assert started[0].ingest is not None
    assert started[0].ingest.inserted == 2
    assert rig.count("events") == 6
    assert rig.sim.count("POST", EXPORTS) == 2


def test_what_changed_in_the_summary_is_reported_when_the_api_recomputes_it(
    tmp_path: Path,
) -> None:
    # The real API recomputes at most daily; this simulator does so on every call.
    with make_rig(tmp_path, summary_refresh_seconds=0) as rig:
        report = run(rig)
        assert "summary: exportable 4 → 0" in report.changes
        assert rig.count("summaries") == 2


def _progress_count(tmp_path: Path) -> int:
    with make_rig(tmp_path / "probe", export_seconds=5) as probe:
        seen: list[Progress] = []
        run(probe, seen)
        return len(seen)


def test_interrupted_at_every_step_and_resumed(tmp_path: Path) -> None:
    total = _progress_count(tmp_path)
    assert total == 9
    for stop_at in range(total):
        with make_rig(tmp_path / f"stop{stop_at}", export_seconds=5) as rig:
            calls = 0

            def interrupt(progress: Progress, stop_at: int = stop_at) -> None:
                nonlocal calls
                calls += 1
                if calls == stop_at + 1:
                    raise Interrupted(progress.step)

            with pytest.raises(Interrupted):
                recover(
                    rig.client(),
                    rig.sid,
                    rig.sink(),
                    RecoverOptions(rig.tmp / "downloads", poll_initial=1.0),
                    interrupt,
                )
            run(rig)
            assert_recovered_once(rig)
            assert not run(rig).changed, f"stopped at progress {stop_at}"


def test_a_lost_reply_to_starting_the_export_does_not_start_a_second(rig: Rig) -> None:
    rig.sim.inject(Fault(EXPORTS, method="POST", action="drop_after"))
    seen: list[Progress] = []
    report = run(rig, seen)
    assert any("reply to starting an export was lost" in p.message for p in seen)
    assert report.jobs[0].started
    assert_recovered_once(rig)


def test_a_failed_start_that_did_nothing_is_reported_and_rerun_starts_it(rig: Rig) -> None:
    rig.sim.inject(Fault(EXPORTS, method="POST", status=500))
    with pytest.raises(ServerError, match="not repeated"):
        run(rig)
    assert rig.sim.world.exports == {}
    run(rig)
    assert rig.count("events") == 4
    assert rig.sim.count("POST", EXPORTS) == 2  # the refused one and the real one
    assert len(rig.sim.world.exports) == 1


def test_a_download_cut_off_leaves_no_file_and_loads_nothing(rig: Rig) -> None:
    fault = rig.sim.inject(Fault(r"/download$", action="truncate", times=100))
    with pytest.raises(DownloadInterrupted):
        run(rig)
    downloads = rig.tmp / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []
    assert rig.count("events") == 0
    assert rig.count("ingest_files") == 0
    fault.times = 0  # the network recovers
    run(rig)
    assert_recovered_once(rig)


def test_an_unreachable_api_mid_wait_is_resumed_by_the_next_run(rig: Rig) -> None:
    rig.sim.inject(Fault(r"/exports/[^/]+$", method="GET", action="drop", times=100))
    with pytest.raises(ApiUnreachable):
        run(rig)
    rig.sim.faults.clear()
    run(rig)
    assert_recovered_once(rig)


def test_waiting_gives_up_at_the_limit_and_the_next_run_resumes(rig: Rig) -> None:
    with pytest.raises(ExportStillRunning, match="run recover again"):
        run(rig, wait_limit=2.0)
    report = run(rig)
    assert not report.jobs[0].started  # awaited, not started again
    assert_recovered_once(rig)


def test_an_export_canceled_elsewhere_is_reported(rig: Rig) -> None:
    def cancel_while_waiting(progress: Progress) -> None:
        if progress.step is Step.WAIT and progress.job_id in rig.sim.world.exports:
            rig.sim.world.cancel_export(rig.sid, progress.job_id)

    recover(
        rig.client(),
        rig.sid,
        rig.sink(),
        RecoverOptions(rig.tmp / "downloads", poll_initial=1.0),
        cancel_while_waiting,
    )
    assert rig.count("events") == 0


def test_an_expired_file_is_a_warning_naming_the_cause(rig: Rig) -> None:
    client = rig.client()
    from migrate.api import exports

    exports.start_export(client, rig.sid)
    rig.clock.advance(7 * DAY + 10)  # finished long ago, never downloaded, file deleted
    report = run(rig)
    assert report.jobs[0].unavailable == "expired"
    assert any("cannot be restored" in w for w in report.warnings)


def test_broken_summary_invariants_are_reported(rig: Rig) -> None:
    rig.sim.world.override_summary(rig.sid, total=99, exportable=50)
    report = run(rig)
    assert len(report.summary_problems) == 2
    assert any("total (99) != succeeded + retrying + failed" in w for w in report.warnings)
    assert any("exportable (50) > failed (4)" in w for w in report.warnings)


def test_nothing_exportable_starts_nothing(tmp_path: Path) -> None:
    with make_rig(tmp_path, failed=0) as rig:
        seen: list[Progress] = []
        report = run(rig, seen)
        assert rig.sim.count("POST", EXPORTS) == 0
        assert report.jobs == []
        assert not report.changed
        assert "nothing is exportable" in seen[1].message
