"""The stale-job alert rules on real data: real agents, collector, InfluxDB, a real `jobpulse-hub`
subprocess and MariaDB; the rules' SQL is taken from alerts/rules.yaml as is and evaluated like Grafana
(emulation.alerting). Thresholds are shortened through the hub's configuration (JOBPULSE_STALLED_AFTER /
JOBPULSE_FAILED_AFTER, which the hub publishes in its `settings` table where the rules read them), never
by editing the rule files.

1. an agent is SIGKILLed mid-copy: job_stalled fires for it after stalled_after seconds of silence (not
   before, and never together with job_failed), job_failed after failed_after; the hub takes both
   webhooks; a completed job never yields anything, and a silent job is never "stuck";
2. the hub's reconciler stops while a healthy job runs: pipeline_down fires once, the per-job rules yield
   no rows at all (even once the job's telemetry is older than failed_after), and after the hub returns
   the job is still running.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timezone

import pytest

from tests.support.wait import wait_for

from . import grafana_files as gf
from .emulation.alerting import evaluate, firing_jobs
from .grafana_e2e import Agent, GrafanaMySQL, alert_payload, post_grafana_webhook, register, start_hub, unique

pytestmark = pytest.mark.e2e

# The rules hold the pipeline for not fresh after min(30 s, stalled_after / 2) without a reconcile; a
# stalled_after of 16 s keeps export interval (5 s) + reconcile lag + 8 s under stalled_after.
STALLED_AFTER = 16
FAILED_AFTER = 30
EXPORT_INTERVAL = 5
# job_stalled ends this long before job_failed begins (rules are evaluated a moment apart)
GAP = min(10, (FAILED_AFTER - STALLED_AFTER) / 4)
SLACK = 6  # collector batching, 1 s reconcile interval, 0.5 s polling, a loaded 2-core machine

RULES = {r["labels"]["rule"]: r for r in gf.rules()}
JOB_RULES = ("job_stalled", "job_failed", "job_stuck")


@pytest.fixture
def setup(mariadb, influxdb, collector, tmp_path):
    db = f"t_gs_{uuid.uuid4().hex[:10]}"
    url = mariadb.create_database(db)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http,
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    thresholds = {"JOBPULSE_STALLED_AFTER": str(STALLED_AFTER), "JOBPULSE_FAILED_AFTER": str(FAILED_AFTER)}
    hubs, agents = [], []

    def hub():
        h = start_hub(tmp_path / f"hub{len(hubs)}", url, influxdb, **thresholds)
        hubs.append(h)
        return h

    def agent(*args, **kw):
        a = Agent(env, *args, **kw)
        agents.append(a)
        return a

    try:
        yield {"hub": hub, "agent": agent, "grafana": GrafanaMySQL(mariadb, db), "tmp": tmp_path}
    finally:
        for a in agents:
            a.stop()
        for h in hubs:
            h.stop()
        mariadb.drop_database(db)


def instances(grafana, name):
    return evaluate(RULES[name], grafana.query)


def rule_rows(grafana, name) -> list[dict]:
    return grafana.rows(RULES[name]["data"][0]["model"]["rawSql"].replace("$$", "$"))


def test_killed_agent_goes_stalled_then_failed(setup):
    grafana = setup["grafana"]
    hub = setup["hub"]()
    settings = dict(grafana.query("SELECT `key`, `value` FROM settings")[1])
    assert settings["stalled_after_seconds"] == str(STALLED_AFTER)
    assert settings["failed_after_seconds"] == str(FAILED_AFTER)

    done_id, dead_id = unique("gs-done"), unique("gs-dead")
    register(hub, done_id, "backup", "vm-done", 1)
    register(hub, dead_id, "backup", "vm-dead", 1)
    # registered but not reporting: pending, and no rule has a row for it
    for name in JOB_RULES:
        assert rule_rows(grafana, name) == []
    dead = setup["agent"](setup["tmp"] / "dead", dead_id, "backup", "vm-dead",
                          "--demo-disks", "1", "--demo-size", "64M", "--max-rate", "512K")
    done = setup["agent"](setup["tmp"] / "done", done_id, "backup", "vm-done",
                          "--demo-disks", "1", "--demo-size", "1M", "--max-rate", "1M")
    assert done.wait()[0] == 0

    # within its first export interval a job yields nothing; then one quiet row
    first = wait_for(lambda: (j := grafana.job(dead_id)) and j["last_telemetry_at"] and j, 30,
                     what="the first telemetry of the job")
    if time.time() - first["started_at"].replace(tzinfo=timezone.utc).timestamp() < 8:  # naive UTC
        assert dead_id not in {r["job_id"] for r in rule_rows(grafana, "job_stalled")}
    wait_for(lambda: [r for r in rule_rows(grafana, "job_stalled") if r["job_id"] == dead_id], 30,
             what="the job to be monitored by job_stalled")
    wait_for(lambda: grafana.job(done_id)["status"] == "completed", 30, what="the completed job")
    assert grafana.job(dead_id)["status"] == "running"

    dead.kill()
    killed_at = time.monotonic()
    stalled_seen = failed_seen = None
    while failed_seen is None:
        now = time.monotonic() - killed_at
        assert now < FAILED_AFTER + EXPORT_INTERVAL + SLACK, "job_failed did not fire in time"
        got = {name: instances(grafana, name) for name in JOB_RULES}
        firing = {name: firing_jobs(got[name]) for name in JOB_RULES}
        # a completed job never has a row; a dead job is silent, not stuck; never warning + critical
        assert all(i.labels["job_id"] != done_id for found in got.values() for i in found)
        assert dead_id not in firing["job_stuck"]
        assert not (dead_id in firing["job_stalled"] and dead_id in firing["job_failed"])
        if dead_id in firing["job_stalled"] and stalled_seen is None:
            [inst] = [i for i in got["job_stalled"] if i.firing]
            assert STALLED_AFTER <= inst.value < FAILED_AFTER - GAP
            assert inst.labels == {"job_id": dead_id, "job_type": "backup", "job_machine": "vm-dead",
                                   "rule": "job_stalled", "severity": "warning", "team": "jobpulse",
                                   "alertname": RULES["job_stalled"]["title"]}
            assert now < STALLED_AFTER + EXPORT_INTERVAL + SLACK, "job_stalled fired late"
            stalled_seen = now
            # Grafana's webhook tells the hub; the job is then 'stalled' and must stay watched
            result = post_grafana_webhook(hub, [alert_payload(inst)])
            assert result["applied"] == 1, result
            wait_for(lambda: grafana.job(dead_id)["status"] == "stalled", 10, what="the hub to mark it stalled")
        if dead_id in firing["job_failed"]:
            [inst] = [i for i in got["job_failed"] if i.firing]
            assert inst.value >= FAILED_AFTER and inst.labels["severity"] == "critical"
            failed_seen = now
            result = post_grafana_webhook(hub, [alert_payload(inst)])
            assert result["applied"] == 1, result
        time.sleep(0.5)
    assert stalled_seen is not None, "job_failed fired without job_stalled before it"
    assert stalled_seen >= STALLED_AFTER - EXPORT_INTERVAL - 1  # silence is counted from the last point

    job = wait_for(lambda: (j := grafana.job(dead_id))["status"] == "failed" and j, 10, what="the hub to fail it")
    assert job["error_message"] and "no telemetry" in job["error_message"]
    # terminal: no rule yields the job any more
    for name in JOB_RULES:
        assert rule_rows(grafana, name) == []
    assert [i.firing for i in instances(grafana, "pipeline_down")] == [False]


def test_pipeline_down_pages_once_and_fails_no_job(setup):
    grafana = setup["grafana"]
    hub = setup["hub"]()
    live_id = unique("gs-live")
    register(hub, live_id, "replication", "vm-live", 1)
    setup["agent"](setup["tmp"] / "live", live_id, "replication", "vm-live",
                   "--demo-disks", "1", "--demo-size", "64M", "--max-rate", "256K")
    wait_for(lambda: [r for r in rule_rows(grafana, "job_stalled") if r["job_id"] == live_id], 40,
             what="the live job to be monitored")
    assert [i.firing for i in instances(grafana, "pipeline_down")] == [False]

    hub.kill()  # SIGKILL: the reconciler stops mid-flight; the agent keeps sending into InfluxDB
    stopped_at = time.monotonic()

    def pipeline_firing():
        found = instances(grafana, "pipeline_down")
        return [i for i in found if i.firing]

    seen_down = False
    while True:
        for name in JOB_RULES:
            rows = rule_rows(grafana, name)
            if seen_down:
                assert rows == [], f"{name} yields rows while the pipeline is down"
            else:
                assert not firing_jobs(instances(grafana, name)), f"{name} fired before pipeline_down"
        down = pipeline_firing()
        if down:
            assert len(down) == 1 and "job_id" not in down[0].labels
            assert down[0].labels["severity"] == "critical" and down[0].labels["rule"] == "pipeline_down"
            seen_down = True
        assert seen_down or time.monotonic() - stopped_at < STALLED_AFTER / 2 + SLACK, "pipeline_down late"
        if seen_down and grafana.job(live_id)["silent_s"] > FAILED_AFTER + 1:
            break
        time.sleep(0.5)
    assert grafana.job(live_id)["status"] == "running"

    setup["hub"]()  # the reconciler is back: fresh again, the job is running and watched again
    wait_for(lambda: not pipeline_firing(), 30, what="pipeline_down to resolve")
    row = wait_for(lambda: [r for r in rule_rows(grafana, "job_stalled") if r["job_id"] == live_id], 30,
                   what="the live job to be monitored again")
    assert row[0]["silent_seconds"] == 0
    assert grafana.job(live_id)["status"] == "running"
    for name in JOB_RULES:
        assert not firing_jobs(instances(grafana, name))
