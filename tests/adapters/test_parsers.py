"""The adapters' reading of tool lines, on lines the real tools printed (restic 0.14, rclone 1.60,
rsync 3.2) and on lines they must survive: nothing a tool prints can crash a job, and our figures
never go backwards or past 100 %."""

from __future__ import annotations

import json

import pytest

from jobpulse.agent import configure
from jobpulse.agent.adapters import Adapter, Feed, Rclone, Restic, Rsync, adapter_for
from jobpulse.semconv import JobType, Phase, Status


def test_tools_are_recognised_and_get_only_the_flags_they_need():
    assert isinstance(adapter_for(["restic", "-r", "/repo", "backup", "/data"]), Restic)
    assert adapter_for(["restic", "-r", "/repo", "backup", "/data"]).command() == [
        "restic", "-r", "/repo", "backup", "--json", "/data"]
    assert adapter_for(["/usr/bin/restic", "--json", "backup", "/d"]).command() == ["/usr/bin/restic", "--json",
                                                                                   "backup", "/d"]
    assert type(adapter_for(["restic", "snapshots"])) is Adapter  # no progress to read
    rc = adapter_for(["rclone", "copy", "a", "b", "--stats", "5s"])
    assert isinstance(rc, Rclone)
    assert rc.command() == ["rclone", "copy", "a", "b", "--stats", "5s", "--use-json-log", "--stats-log-level",
                            "NOTICE"]
    assert type(adapter_for(["rclone", "ls", "remote:"])) is Adapter
    assert adapter_for(["rsync", "-a", "s/", "d/"]).command() == ["rsync", "--info=progress2", "-a", "s/", "d/"]
    assert adapter_for(["rsync", "--info=progress2", "-a", "s/", "d/"]).added_flags == ()
    generic = adapter_for(["pg_dump", "db"])
    assert type(generic) is Adapter and generic.command() == ["pg_dump", "db"] and generic.progress_stream is None


RESTIC_STATUS = ('{"message_type":"status","percent_done":0.0661,"total_files":3,"total_bytes":94376502,'
                 '"bytes_done":6239508,"current_files":["/src/f1","/src/f2"]}')
RESTIC_SUMMARY = ('{"message_type":"summary","files_new":3,"files_changed":0,"files_unmodified":0,"dirs_new":1,'
                  '"dirs_changed":0,"dirs_unmodified":0,"data_blobs":71,"tree_blobs":2,"data_added":94382460,'
                  '"total_files_processed":3,"total_bytes_processed":94376502,"total_duration":1.26,'
                  '"snapshot_id":"7b70a84e"}')
RESTIC_ERROR = ('{"message_type":"error","error":{"Op":"read","Path":"/proc/self/mem","Err":5},'
                '"during":"archival","item":"/proc/self/mem"}')


def test_restic_lines():
    clock = iter([0.0, 0.5, 3.0, 3.5]).__next__
    restic = Restic(["restic", "backup", "/src"], clock=clock)
    first = restic.parse(RESTIC_STATUS)
    assert (first.bytes_done, first.total_bytes, first.phase) == (6239508, 94376502, Phase.SCANNING)
    grown = restic.parse(RESTIC_STATUS.replace("94376502", "94400000"))
    assert grown.phase is Phase.SCANNING  # the total still grows: the scan goes on
    settled = restic.parse(RESTIC_STATUS.replace("94376502", "94400000"))
    assert settled.phase is Phase.TRANSFERRING  # unchanged for 2.5 s: the scan is over
    summary = restic.parse(RESTIC_SUMMARY)
    assert summary.final and summary.bytes_done == summary.total_bytes == 94376502
    assert "7b70a84e" in summary.show
    error = restic.parse(RESTIC_ERROR)
    assert error.error == "restic: read /proc/self/mem: Input/output error"  # the path is said once
    assert restic.parse(json.dumps({"message_type": "error", "error": {"message": "disk full"}})).error == (
        "restic: disk full")
    # an ETA is restic saying its scan has finished
    eta = Restic(["restic", "backup", "/src"], clock=lambda: 0.0).parse(
        RESTIC_STATUS.replace('"percent', '"seconds_remaining":40,"percent'))
    assert eta.phase is Phase.TRANSFERRING


@pytest.mark.parametrize("line", ["", "not json", "[1, 2]", "null",
                                  '{"message_type":"status","total_bytes":"many","bytes_done":-5}',
                                  '{"message_type":"verbose_status","action":"new"}', "{" * 5000,
                                  '{"message_type":"summary","total_bytes_processed":1e400}'])
def test_odd_restic_lines_are_not_progress(line):
    assert Restic(["restic", "backup", "/x"]).parse(line) is None


def test_restic_exit_codes():
    restic = Restic(["restic", "backup", "/x"])
    assert restic.outcome(0, final_seen=True, first_error=None).status is Status.COMPLETED
    three = restic.outcome(3, final_seen=True, first_error="restic: read /x: Input/output error")
    assert three.status is Status.FAILED and "snapshot incomplete" in three.error and "/x" in three.error
    assert restic.outcome(1, final_seen=False, first_error=None).error == "restic exited with code 1"
    assert restic.outcome(130, final_seen=False, first_error=None).status is Status.CANCELLED
    assert restic.outcome(-9, final_seen=False, first_error=None).error == "killed by signal 9"
    assert Restic(["restic", "restore", "latest"]).job_type is JobType.RESTORE


RCLONE_STATS = ('{"level":"warning","msg":"\\nTransferred: 40.145 MiB / 90.004 MiB, 45%","source":"accounting/'
                'stats.go:482","stats":{"bytes":42094592,"checks":0,"elapsedTime":1.06,"errors":0,"eta":null,'
                '"speed":0,"totalBytes":94376502,"totalTransfers":3,"transfers":0},"time":"2026-12-02T07:45:28Z"}')


def test_rclone_lines():
    rclone = Rclone(["rclone", "copy", "a", "b"])
    r = rclone.parse(RCLONE_STATS)
    assert (r.bytes_done, r.total_bytes) == (42094592, 94376502)
    err = rclone.parse('{"level":"error","msg":"Failed to copy: permission denied","object":"f1"}')
    assert err.error == "rclone: f1: Failed to copy: permission denied" and "ERROR" in err.show
    note = rclone.parse('{"level":"warning","msg":"Config file not found - using defaults"}')
    assert note.bytes_done is None and note.show == "rclone: Config file not found - using defaults"
    assert rclone.parse("2026/12/02 07:45:27 NOTICE: plain text") is None
    assert rclone.outcome(7, final_seen=False, first_error=None).status is Status.FAILED


def test_rsync_lines():
    rsync = Rsync(["rsync", "-a", "s/", "d/"])
    mid = rsync.parse("     41,353,993  43%   39.09MB/s    0:00:01  ")
    assert mid.bytes_done == 41353993 and mid.total_bytes == round(41353993 * 100 / 43)
    end = rsync.parse("     94,376,502 100%   40.44MB/s    0:00:02 (xfr#3, to-chk=0/4)")
    assert end.bytes_done == end.total_bytes == 94376502
    assert rsync.parse("         32,768   0%    0.00kB/s    0:00:00").total_bytes is None
    assert rsync.parse("sending incremental file list") is None
    assert rsync.error_line("rsync: [sender] link_stat \"/nope\" failed: No such file or directory (2)")
    assert rsync.outcome(24, final_seen=False, first_error=None).status is Status.COMPLETED
    assert rsync.outcome(23, final_seen=False, first_error="rsync: x").error == "rsync: x"


def test_our_figures_never_go_backwards_or_past_100_percent():
    telemetry = configure(enabled=False)
    job = telemetry.start_job("backup", "m", [0], "feed")
    feed = Feed(job, Restic(["restic", "backup", "/x"]))
    from jobpulse.agent.adapters import Reading

    feed.apply(Reading(bytes_done=600, total_bytes=1000))
    feed.apply(Reading(bytes_done=400, total_bytes=1000))  # backwards: ignored
    assert job.snapshot().bytes_transferred == 600
    feed.apply(Reading(bytes_done=700, total_bytes=500))  # a rescan shrank the total below the bytes done
    snap = job.snapshot()
    assert snap.bytes_transferred == 700 and snap.total_bytes == 700 and snap.progress_percent == 100.0
    feed.apply(Reading(bytes_done=800, total_bytes=2000))
    snap = job.snapshot()
    assert (snap.bytes_transferred, snap.total_bytes, snap.progress_percent) == (800, 2000, 40.0)
    telemetry.shutdown()


def test_public_api_is_pinned():
    from jobpulse.agent import adapters

    assert adapters.__all__ == ["Adapter", "Feed", "KNOWN", "Outcome", "Reading", "Rclone", "Restic", "Rsync", "adapter_for"]
