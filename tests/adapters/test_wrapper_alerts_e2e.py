"""A wrapped tool is watched like any job, through the alert rules of alerts/rules.yaml evaluated as
Grafana does (tests.grafana.emulation.alerting) on a real hub's MariaDB:

- the tool hangs (SIGSTOP) while the wrapper lives: its heartbeats keep the job fresh, so it is
  never stalled, and only the absence of progress makes it stuck;
- the wrapper is SIGKILLed: nothing reports any more, so job_stalled and then job_failed fire, and
  the hub takes both through its webhook."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import psutil
import pytest

from tests.grafana import grafana_files as gf
from tests.grafana.emulation.alerting import evaluate, firing_jobs
from tests.grafana.grafana_e2e import GrafanaMySQL, alert_payload, post_grafana_webhook, register, start_hub, unique
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.adapters]

STALLED_AFTER, FAILED_AFTER, STUCK_AFTER = 16, 30, 12
EXPORT_INTERVAL, SLACK = 5, 8
RULES = {r["labels"]["rule"]: r for r in gf.rules()}


def test_a_hung_tool_is_stuck_and_a_killed_wrapper_stalled_then_failed(mariadb, influxdb, collector, tree, tmp_path):
    db = f"t_ad_{uuid.uuid4().hex[:10]}"
    url = mariadb.create_database(db)
    hub = start_hub(tmp_path / "hub", url, influxdb, JOBPULSE_STALLED_AFTER=str(STALLED_AFTER),
                    JOBPULSE_FAILED_AFTER=str(FAILED_AFTER), JOBPULSE_STUCK_AFTER=str(STUCK_AFTER))
    grafana = GrafanaMySQL(mariadb, db)
    job = unique("wrapped")
    register(hub, job, "backup", "vm-wrapped", 1)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
               RCLONE_CONFIG=str(tmp_path / "rclone.conf"))
    wrapper = subprocess.Popen(["jobpulse-agent", "run", "--job-id", job, "--machine", "vm-wrapped", "--no-progress",
                                "--", "rclone", "copy", str(tree), str(tmp_path / "copy"), "--bwlimit", "2M"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tool = None
    try:
        wait_for(lambda: (j := grafana.job(job)) and j["status"] == "running" and j["bytes_transferred"] > 0, 30,
                 interval=0.5, what="the wrapped rclone moving bytes")
        tool = psutil.Process(wrapper.pid).children()[0]
        tool.suspend()  # the tool hangs; the wrapper does not
        hung_at = time.monotonic()
        while True:
            elapsed = time.monotonic() - hung_at
            assert elapsed < STUCK_AFTER + EXPORT_INTERVAL + SLACK, "job_stuck did not fire for the hung tool"
            assert job not in firing_jobs(evaluate(RULES["job_stalled"], grafana.query)), "stalled while alive"
            if job in firing_jobs(evaluate(RULES["job_stuck"], grafana.query)):
                break
            time.sleep(1)
        assert elapsed >= STUCK_AFTER - 1
        assert grafana.job(job)["status"] == "running"

        wrapper.send_signal(signal.SIGKILL)  # no final flush: the job just goes silent
        wrapper.wait(timeout=10)
        tool.kill()
        killed_at = time.monotonic()
        seen = set()
        while "failed" not in seen:
            assert time.monotonic() - killed_at < FAILED_AFTER + EXPORT_INTERVAL + SLACK, seen
            for rule, status in (("job_stalled", "stalled"), ("job_failed", "failed")):
                if status in seen:
                    continue
                firing = [i for i in evaluate(RULES[rule], grafana.query) if i.firing and i.labels["job_id"] == job]
                if firing:
                    assert post_grafana_webhook(hub, [alert_payload(firing[0])])["applied"] == 1
                    wait_for(lambda s=status: grafana.job(job)["status"] == s, 10, what=f"the hub to mark it {status}")
                    seen.add(status)
            time.sleep(1)
        assert seen == {"stalled", "failed"}
        final = grafana.job(job)
        assert final["error_message"].startswith("Job stalled - no telemetry for") and final["bytes_transferred"] > 0
    finally:
        for p in (wrapper, tool):
            try:
                if p is not None:
                    p.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        hub.stop()
        mariadb.drop_database(db)
