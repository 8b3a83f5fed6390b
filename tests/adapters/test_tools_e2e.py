"""restic, rclone, rsync and a shell pipe through `jobpulse-agent run` / `pipe`, on the real tools,
the session's collector and InfluxDB and a real hub: the figures the hub reports are the tool's own."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from jobpulse import semconv

from .conftest import TOKEN, hub_job, influx_values, job_id, run, summary, tree_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.adapters]


def restic_json(env, *args) -> dict | list:
    out = subprocess.run(["restic", *args, "--json"], env=os.environ | env, check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_restic_backup_scans_then_transfers_with_restic_s_own_total(hub, agent_env, influxdb, tree, restic_repo):
    job = job_id("restic")
    # 40 MiB/s into the local repository: long enough to see both phases and several points
    p = run(agent_env, job, "restic", "backup", "--limit-upload", "40960", str(tree), env=restic_repo)
    assert p.returncode == 0, p.stderr
    assert "snapshot" in p.stderr and "saved" in p.stderr  # restic's summary, said in words
    processed = restic_json(restic_repo, "stats", "latest", "--mode", "restore-size")["total_size"]
    assert processed == tree_bytes(tree)
    got = hub_job(hub, job, "completed")
    assert got["bytes_transferred"] == got["total_bytes"] == processed
    assert summary(p)["bytes_transferred"] == processed
    assert max(influx_values(influxdb, semconv.JOB_TRANSFERRED.name, job)) == processed
    phases = set(influx_values(influxdb, semconv.JOB_PHASE.name, job))
    assert {semconv.Phase.SCANNING, semconv.Phase.TRANSFERRING} <= phases, phases

    again = job_id("restic-again")
    q = run(agent_env, again, "restic", "backup", str(tree), env=restic_repo)
    assert q.returncode == 0, q.stderr
    assert hub_job(hub, again, "completed")["bytes_transferred"] == processed  # processed, not added


def test_restic_unreadable_file_is_exit_3_and_a_failed_job(hub, agent_env, tree, restic_repo, influxdb):
    job = job_id("restic-partial")
    # /proc/self/mem cannot be read, even by root: restic saves a snapshot without it and exits 3
    p = run(agent_env, job, "restic", "backup", str(tree / "c"), "/proc/self/mem", env=restic_repo)
    assert p.returncode == 3, p.stderr
    assert summary(p)["bytes_transferred"] == tree_bytes(tree / "c")
    got = hub_job(hub, job, "failed")
    assert got["error_message"].startswith("restic: snapshot incomplete") and "/proc/self/mem" in got["error_message"]
    assert got["bytes_transferred"] == tree_bytes(tree / "c"), (got, influx_values(influxdb, semconv.JOB_TRANSFERRED.name, job))


def test_restic_restore_without_json_runs_as_a_generic_job(hub, agent_env, tree, restic_repo, tmp_path, influxdb):
    subprocess.run(["restic", "backup", str(tree / "c"), "-q"], env=os.environ | restic_repo, check=True,
                   timeout=120, capture_output=True)
    job = job_id("restic-restore")
    p = run(agent_env, job, "restic", "restore", "latest", "--target", str(tmp_path / "restored"),
            env=restic_repo)
    assert p.returncode == 0, p.stderr
    assert "restoring" in p.stdout  # restic's own output, untouched
    got = hub_job(hub, job, "completed")
    assert got["job_type"] == "restore" and got["current_phase"] == "done"
    assert semconv.Phase.RUNNING in set(influx_values(influxdb, semconv.JOB_PHASE.name, job))
    restored = tmp_path / "restored" / str(tree / "c").lstrip("/")
    assert tree_bytes(restored) == tree_bytes(tree / "c")


def test_rclone_copy_exact_bytes_and_a_falling_eta(hub, agent_env, influxdb, tree, tmp_path):
    job = job_id("rclone")
    p = run(agent_env, job, "rclone", "copy", str(tree), str(tmp_path / "copy"), "--bwlimit", "25M",
            env={"RCLONE_CONFIG": str(tmp_path / "rclone.conf")})
    assert p.returncode == 0, p.stderr
    got = hub_job(hub, job, "completed")
    assert got["bytes_transferred"] == got["total_bytes"] == tree_bytes(tree) == tree_bytes(tmp_path / "copy")
    etas = [e for e in influx_values(influxdb, semconv.JOB_ETA.name, job) if e is not None]
    moving = [e for e in etas if e > 0]
    assert len(moving) >= 2 and moving[0] > moving[-1], etas
    assert etas[-1] == 0


def test_rsync_exact_bytes(hub, agent_env, tree, tmp_path):
    job = job_id("rsync")
    p = run(agent_env, job, "rsync", "-a", "--bwlimit=50000", f"{tree}/", f"{tmp_path / 'copy'}/")
    assert p.returncode == 0, p.stderr
    assert "100%" in p.stdout  # rsync's own progress line stays on the terminal
    got = hub_job(hub, job, "completed")
    assert got["bytes_transferred"] == got["total_bytes"] == tree_bytes(tree)


def test_rsync_failure_keeps_rsync_s_message(hub, agent_env, tmp_path):
    job = job_id("rsync-fail")
    p = run(agent_env, job, "rsync", "-a", str(tmp_path / "nope"), str(tmp_path / "copy"))
    assert p.returncode == 23, p.stderr
    got = hub_job(hub, job, "failed")
    assert got["error_message"].startswith("rsync:") and "nope" in got["error_message"]


def test_a_command_it_does_not_know_still_runs_and_reports_its_end(hub, agent_env):
    ok, bad = job_id("generic"), job_id("generic-fail")
    p = run(agent_env, ok, "sh", "-c", "echo out; echo err >&2")
    assert p.returncode == 0 and p.stdout == "out\n" and p.stderr.startswith("err\n")
    assert hub_job(hub, ok, "completed")["current_phase"] == "done"
    q = run(agent_env, bad, "sh", "-c", "exit 5")
    assert q.returncode == 5
    assert hub_job(hub, bad, "failed")["error_message"] == "sh exited with code 5"
    missing = run(agent_env, job_id("missing"), "no-such-tool-xyz")
    assert missing.returncode == 127 and "cannot start no-such-tool-xyz" in missing.stderr


def test_pipe_is_transparent_and_counts_every_byte(hub, agent_env, tmp_path):
    data = tmp_path / "random.bin"
    size = 1 << 30
    subprocess.run(["head", "-c", str(size), "/dev/urandom"], stdout=open(data, "wb"), check=True)
    digest = hashlib.sha256()
    with open(data, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    job = job_id("pipe")
    shell = (f"cat {data} | jobpulse-agent pipe --job-id {job} --no-progress --total {size} | sha256sum; "
             "exit ${PIPESTATUS[1]}")
    p = subprocess.run(["bash", "-c", shell], env=agent_env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == digest.hexdigest()
    got = hub_job(hub, job, "completed")
    assert got["bytes_transferred"] == got["total_bytes"] == size


def test_pipe_with_a_killed_reader_fails_with_its_figures(hub, agent_env):
    job = job_id("pipe-broken")
    shell = f"head -c 200000000 /dev/zero | jobpulse-agent pipe --job-id {job} --no-progress | head -c 1000000 " \
            "> /dev/null; exit ${PIPESTATUS[1]}"
    p = subprocess.run(["bash", "-c", shell], env=agent_env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 141, p.stderr
    got = hub_job(hub, job, "failed")
    assert "broken pipe" in got["error_message"]
    assert 1_000_000 <= got["bytes_transferred"] < 200_000_000


def test_sigint_through_the_wrapper_cancels_and_keeps_the_figures(hub, agent_env, tree, restic_repo):
    job = job_id("restic-cancel")
    proc = subprocess.Popen(["jobpulse-agent", "run", "--job-id", job, "--no-progress", "--", "restic", "backup",
                             "--limit-upload", "4096", str(tree)], env=agent_env | restic_repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        running = hub_job(hub, job, "running", timeout=60)
        from tests.support.wait import wait_for

        wait_for(lambda: httpx.get(f"{hub.url}/api/v1/jobs/{job}").json()["bytes_transferred"] > 0, 30,
                 interval=0.5, what="bytes moving")
        proc.send_signal(signal.SIGINT)  # to the wrapper only: it passes the signal on
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    got = hub_job(hub, job, "cancelled")
    assert 0 < got["bytes_transferred"] < tree_bytes(tree) and running["job_type"] == "backup"
