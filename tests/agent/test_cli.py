"""`jobpulse-agent copy` as a user runs it: real files, real subprocess, exit codes and messages."""

import json
import os
import signal
import subprocess
import time

import pytest

from jobpulse import semconv as sc
from tests.support.disks import make_disk, make_disks
from tests.support.otlp_sink import OtlpSink

from ._helpers import AGENT, MiB, start_throttled_copy



def run(args, env_extra=None, timeout=60, **kw):
    """The agent with this session's environment (its spool is the session's JOBPULSE_SPOOL_DIR)."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(AGENT + args, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def summary(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_copies_sources_exactly(tmp_path):
    srcs = make_disks(tmp_path / "src", [(i + 1) * MiB + 123 for i in range(3)]).paths
    dest = tmp_path / "out"
    dest.mkdir()
    p = run([*map(str, srcs), "--dest", str(dest), "--no-telemetry", "--summary-json", "--chunk-size", "64K",
             "--job-id", "cli-1"])
    assert p.returncode == 0, p.stderr
    s = summary(p)
    assert s["status"] == "completed" and s["job_id"] == "cli-1"
    assert s["bytes_transferred"] == s["total_bytes"] == sum(x.stat().st_size for x in srcs)
    assert s["bytes_transferred"] == sum(d["bytes_transferred"] for d in s["disks"])
    for src in srcs:
        assert (dest / src.name).read_bytes() == src.read_bytes()
    assert "completed: 3 disk(s)" in p.stderr


def test_demo_mode_creates_data_and_reports_over_otlp(tmp_path):
    sink = OtlpSink()
    try:
        p = run(["--dest", str(tmp_path), "--demo-disks", "2", "--demo-size", "2M", "--summary-json",
                 "--snapshot-seconds", "0.2", "--job-id", "demo-1"],
                env_extra={"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                           "JOBPULSE_SPOOL_DIR": str(tmp_path / "spool")})
        assert p.returncode == 0, p.stderr
        assert f"telemetry: OTLP http/protobuf -> {sink.url}/v1/metrics" in p.stderr
        assert sorted(x.name for x in (tmp_path / "copies").iterdir()) == ["disk0.img", "disk1.img"]
        phases = [v for n, _, a, v in sink.points() if n == sc.JOB_PHASE.name]
        assert phases[-1] == sc.Phase.DONE
        assert sc.Phase.SNAPSHOT in phases
        statuses = [v for n, _, a, v in sink.points() if n == sc.JOB_STATUS.name]
        assert statuses[-1] == sc.Status.COMPLETED
        done = [v for n, _, a, v in sink.points() if n == sc.JOB_TRANSFERRED.name]
        assert done[-1] == 4 * MiB
    finally:
        sink.close()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing source", "does not exist"),
        ("missing dest", "destination"),
        ("unwritable dest", "writ"),  # "not writable" or "cannot write ..." (root)
        ("directory source", "is a directory"),
    ],
)
def test_bad_input_fails_with_one_clear_line(tmp_path, case, expected):
    src = make_disk(tmp_path / "a.img", 1000)
    dest = tmp_path / "out"
    dest.mkdir()
    args = [str(src), "--dest", str(dest)]
    if case == "missing source":
        args[0] = str(tmp_path / "nope.img")
    elif case == "missing dest":
        args[2] = str(tmp_path / "nowhere")
    elif case == "unwritable dest":
        if os.geteuid() == 0:
            args[2] = "/proc"  # root can write anywhere else
        else:
            dest.chmod(0o500)
    elif case == "directory source":
        args[0] = str(tmp_path)
    p = run(args + ["--no-telemetry", "--summary-json"])
    assert p.returncode == 1
    err_lines = [line for line in p.stderr.splitlines() if "copy failed" in line]
    assert len(err_lines) == 1 and expected in err_lines[0], p.stderr
    assert "Traceback" not in p.stderr
    s = summary(p)
    assert s["status"] == "failed" and expected in s["error"]


def test_source_shrinking_mid_copy_fails(tmp_path):
    src, proc = start_throttled_copy(tmp_path, "big.img")
    time.sleep(0.8)
    os.truncate(src, 4096)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "source shrank from 8388608 to 4096 bytes during the copy" in err
    assert json.loads(out.splitlines()[-1])["disks"][0]["status"] == "failed"


def test_failure_with_dead_collector_exits_fast_and_reports_failed(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    start = time.monotonic()
    p = run([str(tmp_path / "nope.img"), "--dest", str(tmp_path), "--summary-json"],
            env_extra={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                       "JOBPULSE_SPOOL_DIR": str(tmp_path / "spool")})
    assert p.returncode == 1
    assert time.monotonic() - start < 5
    assert p.stderr.count("cannot reach the collector") == 1
    assert "Transient error" not in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_cancels_with_130(tmp_path, sig):
    sink = OtlpSink()
    try:
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "JOBPULSE_SPOOL_DIR": str(tmp_path / "sp")}
        proc = subprocess.Popen(
            AGENT + ["--dest", str(tmp_path), "--demo-disks", "2", "--demo-size", "8M", "--max-rate", "2M",
                     "--summary-json", "--job-id", "sig-1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        time.sleep(2.0)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "copy cancelled" in err
        assert json.loads(out.splitlines()[-1])["status"] == "cancelled"
        statuses = [v for n, _, a, v in sink.points() if n == sc.JOB_STATUS.name]
        assert statuses[-1] == sc.Status.CANCELLED  # flushed before exit
    finally:
        sink.close()


def test_usage_error_exits_2(tmp_path):
    p = run(["--dest", str(tmp_path), "--chunk-size", "lots"])
    assert p.returncode == 2 and "not a size" in p.stderr


def test_max_rate_throttles(tmp_path):
    p = run(["--dest", str(tmp_path), "--demo-disks", "2", "--demo-size", "1M", "--max-rate", "1M",
             "--no-telemetry", "--summary-json"])
    assert p.returncode == 0, p.stderr
    assert 1.5 <= summary(p)["duration_seconds"] <= 4.0  # 2 MiB at 1 MiB/s


@pytest.mark.parametrize("job_id, why", [
    ("../../etc/passwd", "'/'"),
    ("/.*/", "'/'"),
    ("..", "'.' or '..'"),
    ("tab\there", "control characters"),
    ("x" * 192, "1 to 191 characters"),
])
@pytest.mark.parametrize("source", ["argument", "environment"])
def test_an_id_the_hub_could_not_address_is_refused_before_any_telemetry(tmp_path, job_id, why, source):
    sink = OtlpSink()
    try:
        args = ["--dest", str(tmp_path), "--demo-disks", "1", "--demo-size", "64K"]
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
               "JOBPULSE_SPOOL_DIR": str(tmp_path / "spool")}
        if source == "argument":
            args += ["--job-id", job_id]
        else:
            env[sc.ENV_JOB_ID] = job_id
        p = run(args, env_extra=env)
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("jobpulse-agent: invalid job id:") and why in lines[0], p.stderr
        assert not (tmp_path / "sources").exists()  # nothing copied either
        time.sleep(0.5)
        assert sink.received == 0
    finally:
        sink.close()


def test_every_option_has_a_help_line():
    p = run(["--help"])
    assert p.returncode == 0
    from jobpulse.agent.cli import build_parser

    copy = build_parser()._subparsers._group_actions[0].choices["copy"]
    undescribed = [a.option_strings or a.dest for a in copy._actions if not a.help]
    assert undescribed == []
