"""bench/bench_capacity.py without a stack: its command line (no side effects, one-line errors) and the
rule that names the limiting stage, on synthetic steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_capacity import FRESHNESS_LIMIT, STAGES, Step, failed_cycles, limiting_stage, percentile

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPULSE_")}
    env["JOBPULSE_RUN_DIR"] = str(tmp_path / "run")
    env["PYTHONPATH"] = str(ROOT)
    work = tmp_path / "cwd"
    work.mkdir()
    p = subprocess.run([sys.executable, "-m", "bench.bench_capacity", *args], cwd=work, env=env,
                       capture_output=True, text=True, timeout=60)
    assert list(work.iterdir()) == [] and not (tmp_path / "run").exists()
    return p


def test_help_starts_nothing(tmp_path):
    p = _run(tmp_path, "--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage:") and p.stderr == ""


@pytest.mark.parametrize("args", [["--steps", "1000,500"], ["--steps", "0"], ["--steps", "a,b"], ["--hold", "-1"],
                                  ["--processes", "0"], ["--influxdb", "3"], ["--no-such-option"]])
def test_bad_arguments_are_one_line(tmp_path, args):
    p = _run(tmp_path, *args)
    assert p.returncode == 2
    assert p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, p.stderr


def _step(jobs=1000, freshness=3.0, machine=100.0, **cpu) -> Step:
    s = Step(jobs, seconds=30.0, cpu={stage: cpu.get(stage, 10.0) for stage in STAGES},
             wait={stage: 0.0 for stage in STAGES}, machine=machine, freshness=[freshness] * 30, cycles=10,
             dropped={"collector": 0, "influxdb": 0})
    s.agent_max = s.cpu["agents"] / 4
    return s


def test_a_fresh_step_without_drops_passes():
    assert _step().passed
    assert not _step(freshness=FRESHNESS_LIMIT + 0.1).passed
    s = _step()
    s.freshness = []
    assert not s.passed  # the hub never reported a point


def test_drops_name_their_stage_first():
    s = _step(freshness=30.0, machine=200.0, hub=95.0)
    s.dropped = {"collector": 0, "influxdb": 12}
    assert not s.passed
    assert limiting_stage(s, cores=2, processes=4)[0] == "influxdb"
    s.dropped = {"collector": 50, "influxdb": 12}
    assert limiting_stage(s, cores=2, processes=4)[0] == "collector"


def test_unseen_jobs_fail_the_step():
    s = _step()
    s.unseen = 1
    assert not s.passed
    s = _step()
    s.behind = 3
    assert not s.passed


def test_growing_queue_is_influxdb():
    s = _step(freshness=20.0, machine=200.0, agents=120.0)
    s.queue_growth = 40
    assert limiting_stage(s, cores=2, processes=4)[0] == "influxdb"


def test_a_pegged_hub_wins_over_a_busier_stage_on_a_saturated_machine():
    s = _step(freshness=20.0, machine=195.0, hub=97.0, agents=60.0, influxdb=30.0)
    assert limiting_stage(s, cores=2, processes=4)[0] == "hub"


def test_a_pegged_agent_process():
    s = _step(freshness=20.0, machine=120.0, agents=100.0)
    s.agent_max = 95.0
    assert limiting_stage(s, cores=2, processes=4)[0] == "agents"


def test_saturated_machine_names_the_biggest_consumer():
    s = _step(freshness=20.0, machine=190.0, hub=40.0, agents=70.0, influxdb=50.0, collector=20.0)
    stage, why, _ = limiting_stage(s, cores=2, processes=4)
    assert stage == "agents" and "saturated" in why


def test_otherwise_the_largest_share_of_what_a_stage_can_use():
    # 60 % of the hub's one core is a larger share than 80 % of the two cores InfluxDB can use.
    s = _step(freshness=20.0, machine=150.0, hub=60.0, influxdb=80.0)
    assert limiting_stage(s, cores=2, processes=4)[0] == "hub"


def test_percentile_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([None, 4.0], 50) == 4.0
    assert percentile(range(1, 101), 95) == 95
    assert percentile([1.0, 2.0], 50) == 1.0


def test_slow_cycles_blame_their_largest_part():
    s = _step(freshness=14.0, machine=120.0, hub=50.0, influxdb=40.0)
    s.cycles = 4  # one every 7.5 s over the 30 s hold: 5.5 s per cycle
    s.query_seconds = 4.0
    assert limiting_stage(s, cores=2, processes=4)[0] == "influxdb"
    s.query_seconds = 1.0
    assert limiting_stage(s, cores=2, processes=4)[0] == "hub"


def test_slow_cycles_are_blamed_before_the_machine_load():
    s = _step(freshness=18.0, machine=190.0, agents=40.0, influxdb=35.0, hub=18.0)
    s.cycles = 3  # 10 s period: 8 s per cycle
    s.query_seconds = 6.5
    limit = limiting_stage(s, cores=2, processes=4)
    assert (limit.stage, limit.lift) == ("influxdb", "influxdb-read") and "saturated" in limit.why


def test_a_batch_in_flight_is_not_a_growing_queue():
    s = _step(freshness=20.0, machine=120.0, hub=60.0)
    s.queue_growth = 1
    assert limiting_stage(s, cores=2, processes=4).stage == "hub"


def test_a_slow_export_is_the_agents():
    s = _step(freshness=20.0, machine=150.0)
    s.export_p95 = 6.0
    assert limiting_stage(s, cores=2, processes=4).stage == "agents"


def test_a_cycle_that_mostly_waits():
    s = _step(freshness=17.0, machine=150.0, agents=16.0, influxdb=40.0, hub=6.0)
    s.cycles = 3  # 10 s period: 8 s per cycle, 2 s of it InfluxDB's answer, 0.6 s the hub's CPU
    s.query_seconds = 2.0
    s.wait["hub"] = 40.0  # 4 s per cycle waiting for a core: the cores limit, the biggest consumer is named
    limit = limiting_stage(s, cores=2, processes=4)
    assert limit.stage == "influxdb" and limit.lift == "influxdb" and "waiting for a core 4.0 s" in limit.why
    s.wait["hub"] = 5.0  # 0.5 s waiting: the 4.9 s left is the hub's transaction
    assert limiting_stage(s, cores=2, processes=4).stage == "mariadb"


def test_a_lagging_write_path_names_its_busiest_stage():
    s = _step(freshness=6.0, machine=150.0, agents=50.0, collector=10.0, influxdb=30.0, hub=20.0)
    s.freshness = [6.0] * 28 + [14.0, 15.0]
    s.upstream = [3.0] * 28 + [11.0, 12.0]  # the worst samples were old before the hub's cycle began
    s.wait["influxdb"] = 25.0
    limit = limiting_stage(s, cores=2, processes=4)
    assert (limit.stage, limit.lift) == ("influxdb", "influxdb-write") and "write path" in limit.why
    s.upstream = [3.0] * 28 + [4.0, 4.0]  # the worst samples aged at the hub: the cycle analysis applies
    assert "write path" not in limiting_stage(s, cores=2, processes=4).why


HUB_LOG = """\
2026-12-02 17:05:05,326 INFO httpx: HTTP Request: POST http://127.0.0.1:54167/query "HTTP/1.1 200 OK"
2026-12-02 17:05:21,075 WARNING jobpulse.hub.reconciler._loop: reconcile cycle failed (InfluxConnectionError: \
ReadTimeout: timed out); retrying in 4.0s
2026-12-02 17:05:35,090 WARNING jobpulse.hub.reconciler._loop: reconcile cycle failed (InfluxConnectionError: \
ReadTimeout: timed out); retrying in 8.0s
"""


def test_failed_cycles_from_the_hub_log():
    assert failed_cycles("") == (0, "")
    assert failed_cycles(HUB_LOG) == (2, "InfluxConnectionError: ReadTimeout: timed out")


def test_failed_cycles_name_what_failed_them():
    s = _step(freshness=80.0, machine=199.0, agents=70.0)
    s.queue_growth = 19
    s.failed_cycles, s.failure = 3, "InfluxConnectionError: ReadTimeout: timed out"
    assert limiting_stage(s, cores=2, processes=4)[::2] == ("influxdb", "influxdb-read")
    s.failure = "OperationalError: (2013, 'Lost connection to server during query')"
    assert limiting_stage(s, cores=2, processes=4).stage == "mariadb"
