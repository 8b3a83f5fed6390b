"""A job's deadline (the end of its backup window): the library argument, the CLI's --deadline,
the gauge both export, and the refusals."""

import math
import os
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from jobpulse import semconv as sc
from jobpulse.agent import ConfigurationError, InvalidDeadline, JobpulseError, Phase, configure, start_job
from tests.support.otlp_sink import OtlpSink

from ._helpers import FakeClock, RecordingExporter, points

CLI = [sys.executable, "-m", "jobpulse.agent.cli"]
DAY = 86400


@pytest.fixture
def setup():
    reader = InMemoryMetricReader()
    clock = FakeClock()
    wall = lambda: 1.7e9 + clock.now  # noqa: E731 - a clock the test moves
    tel = configure(reader=reader, clock=clock, wall_clock=wall, watch_interval=None)
    yield tel, reader, wall
    tel.shutdown()


def job_attrs(job) -> dict:
    return {sc.ATTR_JOB_ID: job.job_id, sc.ATTR_JOB_TYPE: job.job_type, sc.ATTR_MACHINE: job.machine}


# --- the library ------------------------------------------------------------------


def test_the_gauge_carries_the_job_attributes_and_the_unix_time(setup):
    tel, reader, wall = setup
    at = datetime.fromtimestamp(wall() + 3600, timezone(timedelta(hours=2)))
    job = tel.start_job("backup", "vm-a", [100], job_id="dl-aware", deadline=at)
    plain = tel.start_job("backup", "vm-b", [100], job_id="dl-none")
    assert job.snapshot().deadline == at.timestamp() and plain.snapshot().deadline is None
    got = points(reader.get_metrics_data())
    assert got[sc.JOB_DEADLINE.name] == [(job_attrs(job), at.timestamp())]  # none for the job without one
    assert set(got[sc.JOB_DEADLINE.name][0][0]) == set(sc.JOB_DEADLINE.attributes)


def test_a_job_without_a_deadline_exports_no_deadline_metric(setup):
    tel, reader, _ = setup
    tel.start_job("backup", "vm-a", [100], job_id="dl-absent")
    assert sc.JOB_DEADLINE.name not in points(reader.get_metrics_data())


def test_naive_datetime_is_utc_and_timedelta_is_from_now(setup):
    tel, _, wall = setup
    naive = datetime.fromtimestamp(wall() + 600, timezone.utc).replace(tzinfo=None)
    assert tel.start_job(job_id="dl-naive", deadline=naive).snapshot().deadline == pytest.approx(wall() + 600)
    rel = tel.start_job(job_id="dl-rel", deadline=timedelta(hours=1, minutes=30))
    assert rel.snapshot().deadline == pytest.approx(wall() + 5400)


def test_the_deadline_goes_out_with_every_export_including_the_final_one():
    exp = RecordingExporter()
    tel = configure(exporter=exp, spool=False, export_interval_millis=5000, watch_interval=None)
    try:
        at = time.time() + 7200
        job = tel.start_job("backup", "vm-f", [10], job_id="dl-final", deadline=datetime.fromtimestamp(at, timezone.utc))
        job.set_phase(Phase.TRANSFERRING)
        job.advance(0, 10)
        job.complete()  # waits for the final export
        with exp.lock:
            batches = [points(data) for _, data in exp.batches]
    finally:
        tel.shutdown()
    assert batches
    for got in batches:
        assert got[sc.JOB_DEADLINE.name] == [(job_attrs(job), pytest.approx(at, abs=1e-5))]
    assert batches[-1][sc.JOB_STATUS.name][0][1] == sc.Status.COMPLETED


def test_the_process_wide_start_job_takes_a_deadline_too(setup):
    tel, _, wall = setup
    job = start_job("restore", "vm-p", [1], job_id="dl-module", telemetry=tel, deadline=timedelta(minutes=5))
    assert job.snapshot().deadline == pytest.approx(wall() + 300)


def test_series_per_job_with_a_deadline_matches_the_export(setup):
    tel, reader, wall = setup
    tel.start_job("replication", "vm-e", [10, 20, 30], job_id="dl-series", deadline=timedelta(hours=2))
    got = points(reader.get_metrics_data())
    series = 0
    for name, pts in got.items():
        for attrs, _ in pts:
            assert set(attrs) == set(sc.METRICS_BY_NAME[name].attributes), name
            series += 1
    assert sc.JOB_ETA.name not in got  # absent while unknown: counted as the contract does once known
    assert series + 1 == sc.series_per_job(3, deadline=True) == sc.series_per_job(3) + 1


@pytest.mark.parametrize("deadline, why", [
    (timedelta(seconds=-30), "must be positive"),
    (timedelta(0), "must be positive"),
    ("past", "in the past"),
    ("absurd", "more than 366 days ahead"),
    (datetime.max, "more than 366 days ahead"),
    (datetime.min.replace(tzinfo=timezone.utc), "in the past"),
    (1.9e9, "not float"),
    (math.nan, "not float"),
    (1900000000, "not int"),
    (True, "not bool"),
    ("2030-01-01T00:00:00Z", "not str"),
    (date(2030, 1, 1), "not date"),
])
def test_hostile_deadlines_raise_invalid_deadline_before_the_job_exists(setup, deadline, why):
    tel, reader, wall = setup
    if deadline == "past":
        deadline = datetime.fromtimestamp(wall() - 2, timezone.utc)
    elif deadline == "absurd":
        deadline = timedelta(days=366, seconds=1)
    with pytest.raises(InvalidDeadline, match=why) as caught:
        tel.start_job("backup", "vm-x", [1], job_id="dl-bad", deadline=deadline)
    assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, JobpulseError)
    assert tel.jobs() == []


def test_the_edges_are_accepted(setup):
    tel, _, wall = setup
    # "now" read a moment before ours is not in the past; 366 days is the farthest allowed.
    just_now = datetime.fromtimestamp(wall() - 0.5, timezone.utc)
    assert tel.start_job(job_id="dl-now", deadline=just_now).snapshot().deadline == pytest.approx(wall() - 0.5)
    far = tel.start_job(job_id="dl-far", deadline=timedelta(days=366))
    assert far.snapshot().deadline == pytest.approx(wall() + 366 * DAY)


# --- the CLI ------------------------------------------------------------------------


def cli(args, sink=None, tmp_path=None, **kw):
    env = dict(os.environ)
    if sink is not None:
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "JOBPULSE_SPOOL_DIR": str(tmp_path / "spool")})
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=60, env=env, **kw)


def iso(at: float, offset_hours: int | None = 0, z: bool = True) -> str:
    """RFC 3339 text of Unix time ``at``; ``offset_hours=None``: no offset at all (the CLI takes UTC)."""
    if offset_hours is None:
        return datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    text = datetime.fromtimestamp(at, timezone(timedelta(hours=offset_hours))).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if z else text


def command(kind: str, tmp_path, job_id: str) -> tuple[list[str], dict]:
    if kind == "copy":
        return ["copy", "--dest", str(tmp_path), "--demo-disks", "1", "--demo-size", "64K", "--job-id", job_id], {}
    if kind == "pipe":
        return ["pipe", "--total", "5", "--job-id", job_id], {"input": "hello"}
    return ["run", "--job-id", job_id, "--", sys.executable, "-c", "pass"], {}


def deadline_points(sink, job_id: str) -> list[tuple[dict, float]]:
    return [(a, v) for n, _, a, v in sink.points() if n == sc.JOB_DEADLINE.name and a[sc.ATTR_JOB_ID] == job_id]


@pytest.mark.parametrize("form, seconds", [
    ("90s", 90), ("45m", 45 * 60), ("2h", 2 * 3600), ("1h30m", 5400), ("1d", DAY), ("1d2h3m4s", DAY + 7384),
    ("2H", 7200), ("366d", 366 * DAY),
])
def test_cli_durations_are_from_now(tmp_path, form, seconds):
    with OtlpSink() as sink:
        before = time.time()
        p = cli([*command("copy", tmp_path, "dl-cli-dur")[0], "--deadline", form, "--no-progress"], sink, tmp_path)
        after = time.time()
        assert p.returncode == 0, p.stderr
        got = deadline_points(sink, "dl-cli-dur")
    assert got, "no deadline point exported"
    values = {v for _, v in got}
    assert len(values) == 1  # fixed once, the same in every export
    (value,) = values
    assert before + seconds - 0.01 <= value <= after + seconds and after - before < 30


@pytest.mark.parametrize("offset, z", [(0, True), (0, False), (1, False), (-5, False), (None, False)])
def test_cli_times_in_rfc_3339(tmp_path, offset, z):
    at = float(int(time.time()) + 3 * 3600)
    text = iso(at, offset, z)
    with OtlpSink() as sink:
        p = cli([*command("copy", tmp_path, "dl-cli-iso")[0], "--deadline", text, "--no-progress"], sink, tmp_path)
        assert p.returncode == 0, p.stderr
        got = deadline_points(sink, "dl-cli-iso")
    assert got and {v for _, v in got} == {at}, text
    expected = {sc.ATTR_JOB_ID: "dl-cli-iso", sc.ATTR_JOB_TYPE: "backup", sc.ATTR_MACHINE: socket.gethostname()}
    assert all(a == expected for a, _ in got)


def test_cli_lower_case_t_and_z_as_rfc_3339_allows(tmp_path):
    at = float(int(time.time()) + 600)
    with OtlpSink() as sink:
        text = iso(at).lower()
        p = cli([*command("copy", tmp_path, "dl-cli-lower")[0], "--deadline", text, "--no-progress"], sink, tmp_path)
        assert p.returncode == 0, p.stderr
        assert {v for _, v in deadline_points(sink, "dl-cli-lower")} == {at}


@pytest.mark.parametrize("kind", ["run", "pipe"])
def test_run_and_pipe_take_the_same_option(tmp_path, kind):
    job_id = f"dl-cli-{kind}"
    args, kw = command(kind, tmp_path, job_id)
    with OtlpSink() as sink:
        before = time.time()
        p = cli([*args[:1], "--deadline", "45m", "--no-progress", *args[1:]], sink, tmp_path, **kw)
        after = time.time()
        assert p.returncode == 0, p.stderr
        got = deadline_points(sink, job_id)
        statuses = [v for n, _, a, v in sink.points() if n == sc.JOB_STATUS.name and a[sc.ATTR_JOB_ID] == job_id]
    assert got and statuses[-1] == sc.Status.COMPLETED
    assert all(before + 2700 - 0.01 <= v <= after + 2700 for _, v in got)


def test_cli_without_deadline_exports_none(tmp_path):
    with OtlpSink() as sink:
        p = cli([*command("copy", tmp_path, "dl-cli-none")[0], "--no-progress"], sink, tmp_path)
        assert p.returncode == 0, p.stderr
        assert any(a.get(sc.ATTR_JOB_ID) == "dl-cli-none" for _, _, a, _ in sink.points())
        assert deadline_points(sink, "dl-cli-none") == []


HOSTILE = [
    ("tomorrow", "not a time"),
    ("", "not a time"),
    ("1h30x", "not a time"),
    ("90", "not a time"),  # seconds or a Unix time? neither is guessed
    ("2026-12-03", "not a time"),  # a date alone: start or end of that day?
    ("2026-13-01T06:00:00Z", "not a time"),
    ("2026-12-03T06:00:00+25:00", "not a time"),
    ("0s", "must be positive"),
    ("-5m", "must be positive"),
    ("past", "in the past"),
    ("367d", "more than 366 days ahead"),
    ("far", "more than 366 days ahead"),
    ("99999999999999d", "more than 366 days ahead"),
]


@pytest.mark.parametrize("value, why", HOSTILE)
def test_cli_hostile_deadline_exits_2_with_one_line(tmp_path, value, why):
    if value == "past":
        value = iso(time.time() - 3600)
    elif value == "far":
        value = iso(time.time() + 400 * DAY, 1, False)
    with OtlpSink() as sink:
        p = cli([*command("copy", tmp_path, "dl-cli-bad")[0], f"--deadline={value}"], sink, tmp_path)
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        assert lines[0].startswith(f"jobpulse-agent: invalid --deadline {value!r}: ") and why in lines[0], p.stderr
        assert "Traceback" not in p.stderr
        assert not (tmp_path / "sources").exists()  # refused before anything was done
        time.sleep(0.3)
        assert sink.received == 0


@pytest.mark.parametrize("kind", ["run", "pipe"])
def test_run_and_pipe_refuse_the_same_way(tmp_path, kind):
    args, kw = command(kind, tmp_path, f"dl-cli-bad-{kind}")
    p = cli([*args[:1], "--deadline", "soon", *args[1:]], **kw)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [f"jobpulse-agent: invalid --deadline 'soon': not a time "
                                     "(2026-12-03T06:00:00Z, 2026-12-03T06:00:00+01:00) "
                                     "or a duration (90s, 45m, 2h, 1h30m, 1d)"]


@pytest.mark.parametrize("kind", ["copy", "run", "pipe"])
def test_help_describes_the_option(kind):
    p = cli([kind, "--help"])
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "--deadline TIME|DURATION" in text and sc.JOB_DEADLINE.name in text
    for form in ("2026-12-03T06:00:00Z", "+01:00", "90s", "45m", "2h", "1h30m", "1d", "UTC", "366 days"):
        assert form in text, form
