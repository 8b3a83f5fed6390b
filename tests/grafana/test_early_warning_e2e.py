"""The early-warning rules on real data: real `jobpulse-agent copy` runs (rate-limited), the collector,
InfluxDB, a real `jobpulse-hub` subprocess and MariaDB; the rules' SQL is alerts/rules.yaml's as is,
evaluated like Grafana (emulation.alerting). Thresholds are shortened through the hub's configuration
(JOBPULSE_LATE_AFTER / JOBPULSE_SLOW_AFTER, published to `settings`), never by editing the rules.

1. a copy whose deadline it cannot meet makes job_late fire well before the deadline (and it did end
   after it); a copy that can meet its deadline, run beside it, never does;
2. after three completed jobs on one machine, a copy at a tenth of their speed makes job_slow fire;
   one at their speed, beside it, never does.
Each fired rule goes to the hub's webhook, which marks the job without changing its status.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime

import pytest

from tests.support.wait import wait_for

from . import grafana_files as gf
from .emulation.alerting import evaluate, firing_jobs
from .grafana_e2e import Agent, GrafanaMySQL, alert_payload, post_grafana_webhook, register, start_hub, unique

pytestmark = [pytest.mark.e2e, pytest.mark.early_warning]

LATE_AFTER = 10
SLOW_AFTER = 10
RULES = {r["labels"]["rule"]: r for r in gf.rules()}
REPORT = "early-warning-e2e.json"  # under .run/: the figures the closing note quotes


@pytest.fixture
def setup(mariadb, influxdb, collector, tmp_path):
    db = f"t_ew_{uuid.uuid4().hex[:10]}"
    url = mariadb.create_database(db)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http,
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    hub = start_hub(tmp_path / "hub", url, influxdb, JOBPULSE_LATE_AFTER=str(LATE_AFTER),
                    JOBPULSE_SLOW_AFTER=str(SLOW_AFTER))
    agents = []

    def agent(job_id, machine, *args):
        register(hub, job_id, "backup", machine, 1)  # the deadline comes with the telemetry
        a = Agent(env, tmp_path / job_id, job_id, "backup", machine, *args)
        agents.append(a)
        return a

    try:
        yield {"hub": hub, "agent": agent, "grafana": GrafanaMySQL(mariadb, db)}
    finally:
        for a in agents:
            a.stop()
        hub.stop()
        mariadb.drop_database(db)


def utc(naive: datetime) -> float:
    return (naive - datetime(1970, 1, 1)).total_seconds()


def watch(grafana, rule: str, until, timeout: float) -> dict[str, float]:
    """Evaluate ``rule`` every second like Grafana (interval shortened) until ``until()``; the first
    time (unix seconds) each job was seen firing."""
    first: dict[str, float] = {}
    end = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < end, f"{rule}: gave up after {timeout} s"
        for job_id in firing_jobs(evaluate(RULES[rule], grafana.query)):
            first.setdefault(job_id, time.time())
        time.sleep(1)
    return first


def test_a_job_that_cannot_meet_its_deadline_is_late_before_it(setup, repo_root):
    grafana, hub = setup["grafana"], setup["hub"]
    late_id, ok_id = unique("ew-late"), unique("ew-ok")
    started = time.time()
    # 40 MiB at 512 KiB/s: 80 s of copying against a window of 45 s
    late = setup["agent"](late_id, "vm-late", "--demo-disks", "1", "--demo-size", "40M", "--max-rate", "512K",
                          "--deadline", "45s")
    ok = setup["agent"](ok_id, "vm-ok", "--demo-disks", "1", "--demo-size", "6M", "--max-rate", "512K",
                        "--deadline", "60s")
    fired: dict[str, float] = {}
    marked = False
    end = time.monotonic() + 150
    while late.proc.poll() is None or ok.proc.poll() is None:
        assert time.monotonic() < end, "the copies did not end"
        for inst in evaluate(RULES["job_late"], grafana.query):
            if inst.firing and inst.labels["job_id"] not in fired:
                fired[inst.labels["job_id"]] = time.time()
                assert inst.labels["severity"] == "warning" and inst.value > 0
            if inst.firing and inst.labels["job_id"] == late_id and not marked:
                result = post_grafana_webhook(hub, [alert_payload(inst)])
                assert result["applied"] == 1, result
                job = grafana.job(late_id)
                assert job["late"] == 1 and job["status"] == "running", "a warning, not a status"
                marked = True
        time.sleep(1)
    assert late.wait()[0] == 0 and ok.wait()[0] == 0
    job = wait_for(lambda: (j := grafana.job(late_id))["status"] == "completed" and j, 20, what="completion")
    deadline = utc(job["deadline"])
    assert abs(deadline - (started + 45)) < 5, "the --deadline duration reached the job row"
    assert ok_id not in fired, "a job that meets its deadline is never late"
    assert late_id in fired, "job_late never fired"
    assert fired[late_id] < deadline - 10, "job_late fired well before the deadline"
    assert utc(job["completed_at"]) > deadline, "and the job did end after it"
    assert job["predicted_completion_latest_at"] == job["predicted_completion_at"] == job["completed_at"]
    report = repo_root / ".run" / REPORT
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps({
        "job": late_id, "started": datetime.utcfromtimestamp(started).isoformat() + "Z",
        "deadline": job["deadline"].isoformat() + "Z",
        "job_late_fired": datetime.utcfromtimestamp(fired[late_id]).isoformat() + "Z",
        "fired_before_deadline_s": round(deadline - fired[late_id], 1),
        "completed_at": job["completed_at"].isoformat() + "Z",
        "ended_after_deadline_s": round(utc(job["completed_at"]) - deadline, 1),
    }, indent=1))


def test_a_job_far_below_its_usual_speed_is_slow(setup):
    grafana = setup["grafana"]
    for n in range(3):  # the machine's history: three jobs at 4 MiB/s
        history = setup["agent"](unique(f"ew-hist{n}"), "vm-s", "--demo-disks", "1", "--demo-size", "8M",
                                 "--max-rate", "4M")
        assert history.wait()[0] == 0
    slow_id, usual_id = unique("ew-slow"), unique("ew-usual")
    slow = setup["agent"](slow_id, "vm-s", "--demo-disks", "1", "--demo-size", "12M", "--max-rate", "400K")
    usual = setup["agent"](usual_id, "vm-s", "--demo-disks", "1", "--demo-size", "96M", "--max-rate", "4M")
    job = wait_for(lambda: (j := grafana.job(slow_id)) and j["speed_vs_usual"] is not None and j, 30,
                   what="the slow job's speed against the usual")
    assert job["usual_speed_bps"] > 0
    fired = watch(grafana, "job_slow", lambda: usual.proc.poll() is not None, 120)
    assert slow_id in fired, "job_slow never fired"
    assert usual_id not in fired, "a job at the usual speed is never slow"
    [inst] = [i for i in evaluate(RULES["job_slow"], grafana.query) if i.firing] or [None]
    if inst is not None:
        result = post_grafana_webhook(setup["hub"], [alert_payload(inst)])
        assert result["applied"] == 1, result
        assert grafana.job(slow_id)["slow"] == 1 and grafana.job(slow_id)["status"] == "running"
    assert 0 < grafana.job(slow_id)["speed_vs_usual"] < 0.5
    assert grafana.job(usual_id)["speed_vs_usual"] is not None
    slow.stop()
