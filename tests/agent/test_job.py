"""Byte accounting, states, snapshots and the metric points they produce."""

import threading

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from jobpulse.agent import DiskStatus, Phase, Status, configure
from jobpulse import semconv as sc

from ._helpers import FakeClock, points


@pytest.fixture
def setup():
    reader = InMemoryMetricReader()
    clock = FakeClock()
    tel = configure(reader=reader, clock=clock, wall_clock=lambda: 1.7e9 + clock.now, watch_interval=None)
    yield tel, reader, clock
    tel.shutdown()


def test_parallel_workers_lose_no_increment(setup):
    tel, reader, _ = setup
    sizes = [10**9, 10**9, 10**9]
    job = tel.start_job("backup", "vm-a", sizes, job_id="par")
    per_thread = 20_000

    def worker(t):
        for k in range(per_thread):
            job.advance((t + k) % 3, 7)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = job.snapshot()
    assert snap.bytes_transferred == 8 * per_thread * 7
    assert sum(d.bytes_transferred for d in snap.disks) == snap.bytes_transferred
    got = points(reader.get_metrics_data())
    job_bytes = got[sc.JOB_TRANSFERRED.name][0][1]
    disk_bytes = [v for _, v in got[sc.DISK_TRANSFERRED.name]]
    assert job_bytes == sum(disk_bytes) == 8 * per_thread * 7


def test_same_disk_hammered_by_eight_threads(setup):
    tel, _, _ = setup
    job = tel.start_job("backup", "vm-a", [10**12], job_id="same")
    threads = [threading.Thread(target=lambda: [job.advance(0, 3) for _ in range(25_000)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert job.snapshot().bytes_transferred == 8 * 25_000 * 3


def test_disk_bytes_clamped_to_size_and_percent_within_bounds(setup):
    tel, _, _ = setup
    job = tel.start_job("restore", "vm-b", [100, 50], job_id="clamp")
    job.advance(0, 500)
    job.advance(1, 20)
    snap = job.snapshot()
    assert [d.bytes_transferred for d in snap.disks] == [100, 20]
    assert snap.bytes_transferred == 120
    assert 0 <= snap.progress_percent <= 100
    assert snap.progress_percent == pytest.approx(80.0)


def test_progress_never_goes_back_unless_total_revised(setup):
    tel, _, _ = setup
    job = tel.start_job("backup", "vm-c", [1000], job_id="back")
    job.advance(0, 600)
    assert job.snapshot().bytes_transferred == 600
    job.advance(0, -400)  # a caller bug must not make progress go backwards
    assert job.snapshot().bytes_transferred == 600
    job.revise_total(0, 300)  # the only way down
    snap = job.snapshot()
    assert snap.total_bytes == 300 and snap.bytes_transferred == 300 and snap.progress_percent == 100.0
    job.revise_total(0, 2000)
    assert job.snapshot().total_bytes == 2000


def test_bad_disk_index_is_dropped_not_raised(setup, caplog):
    tel, _, _ = setup
    job = tel.start_job("backup", "vm-d", [10], job_id="bad")
    job.advance(5, 1)
    job.advance(-1, 1)
    job.advance(0, "x")
    assert job.snapshot().bytes_transferred == 0
    assert "ignored advance" in caplog.text


def test_attribute_sets_and_series_count(setup):
    tel, reader, _ = setup
    job = tel.start_job("replication", "vm-e", [10, 20, 30], job_id="attrs")
    job.set_phase(Phase.TRANSFERRING)
    tel.watcher.tick()
    got = points(reader.get_metrics_data())
    series = 0
    for name, pts in got.items():
        spec = sc.METRICS_BY_NAME[name]
        for attrs, _ in pts:
            assert set(attrs) == set(spec.attributes), name
            series += 1
    # ETA is absent while unknown, so count it as the contract does once it is known.
    assert sc.JOB_ETA.name not in got
    assert series + 1 == sc.series_per_job(3)
    job.fail("disk 2 exploded\nwith a second line " + "x" * 500)
    got = points(reader.get_metrics_data())
    (attrs, value), = got[sc.JOB_ERROR.name]
    assert value == 1
    msg = attrs[sc.ATTR_ERROR_MESSAGE]
    assert "\n" not in msg and len(msg) <= sc.ERROR_MESSAGE_MAX and msg.startswith("disk 2 exploded with")
    total_series = sum(len(p) for p in got.values())
    assert sc.JOB_ETA.name not in got  # a failed job has no ETA
    assert total_series + 1 == sc.series_per_job(3, failed=True)


def test_states_codes_and_final_figures(setup):
    tel, reader, clock = setup
    job = tel.start_job("backup", "vm-f", [1000, 1000], job_id="final")
    job.set_phase(Phase.TRANSFERRING)
    job.set_disk_status(0, DiskStatus.TRANSFERRING)
    job.advance(0, 1000)
    job.set_disk_status(0, DiskStatus.COMPLETED)
    job.advance(1, 1000)
    clock.advance(10.0)
    job.complete()
    job.fail("too late")  # the first ending wins
    got = points(reader.get_metrics_data())
    val = {name: pts[0][1] for name, pts in got.items() if not name.startswith("jobpulse.disk")}
    assert val[sc.JOB_STATUS.name] == Status.COMPLETED
    assert val[sc.JOB_PHASE.name] == Phase.DONE
    assert val[sc.JOB_TRANSFERRED.name] == 2000 == val[sc.JOB_TOTAL.name]
    assert val[sc.JOB_PROGRESS.name] == 100.0
    assert val[sc.JOB_DURATION.name] == pytest.approx(10.0)
    assert val[sc.JOB_AVERAGE_SPEED.name] == pytest.approx(200.0)
    assert sc.JOB_ERROR.name not in got
    assert [v for _, v in got[sc.DISK_STATUS.name]] == [DiskStatus.COMPLETED, DiskStatus.COMPLETED]


def test_context_manager_fail_and_cancel(setup):
    tel, _, _ = setup
    with pytest.raises(RuntimeError):
        with tel.start_job("backup", "vm-g", [1], job_id="cm1") as job1:
            raise RuntimeError("boom")
    assert job1.status is Status.FAILED and job1.snapshot().error_message == "RuntimeError: boom"
    with pytest.raises(KeyboardInterrupt):
        with tel.start_job("backup", "vm-g", [1], job_id="cm2") as job2:
            raise KeyboardInterrupt
    assert job2.status is Status.CANCELLED
    with tel.start_job("backup", "vm-g", [1], job_id="cm3") as job3:
        job3.advance(0, 1)
    assert job3.status is Status.COMPLETED


def test_several_jobs_are_told_apart_by_attributes(setup):
    tel, reader, _ = setup
    a = tel.start_job("backup", "vm-1", [10], job_id="A")
    b = tel.start_job("restore", "vm-2", [20], job_id="B")
    a.advance(0, 4)
    b.advance(0, 9)
    got = points(reader.get_metrics_data())
    by_job = {attrs[sc.ATTR_JOB_ID]: v for attrs, v in got[sc.JOB_TRANSFERRED.name]}
    assert by_job == {"A": 4, "B": 9}


def test_job_id_from_environment(setup, monkeypatch):
    tel, _, _ = setup
    monkeypatch.setenv(sc.ENV_JOB_ID, "backup-from-env-1")
    assert tel.start_job("backup", "vm", [1]).job_id == "backup-from-env-1"
    monkeypatch.delenv(sc.ENV_JOB_ID)
    assert tel.start_job("backup", "vm", [1]).job_id.startswith("backup-vm-")
