"""Test helper for the e2e tests: the hub as a real subprocess, real agents, and Grafana's view of the
real MariaDB (a read-only account with the datasource's session time zone) and InfluxDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pymysql

from jobpulse.stack import Hub, free_port

from . import grafana_files as gf
from .emulation.macros import mysql_session_setup

API_TOKEN = "grafana-e2e-token"
WEBHOOK_AUTH = ("grafana", "grafana-e2e-hook")


class GrafanaMySQL:
    """What Grafana's MySQL datasource sees: a SELECT-only account, session set up as provisioned."""

    def __init__(self, mariadb, database: str) -> None:
        self.database = database
        self.user = f"gr_{uuid.uuid4().hex[:10]}"
        self.password = uuid.uuid4().hex
        admin = pymysql.connect(host=mariadb.host, port=mariadb.port, user=mariadb.user,
                                password=mariadb.password, autocommit=True)
        with admin, admin.cursor() as cur:
            cur.execute(f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'")
            cur.execute(f"GRANT SELECT ON `{database}`.* TO '{self.user}'@'%'")
        self._mariadb = mariadb
        datasource = next(ds for ds in gf.load_yaml(gf.DATASOURCES_FILE)["datasources"] if ds["uid"] == gf.MYSQL_UID)
        self._setup = mysql_session_setup(datasource)

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        conn = pymysql.connect(host=self._mariadb.host, port=self._mariadb.port, user=self.user,
                               password=self.password, database=self.database, autocommit=True)
        with conn, conn.cursor() as cur:
            for statement in self._setup:
                cur.execute(statement)
            cur.execute(sql)
            columns = [d[0] for d in cur.description]
            return columns, list(cur.fetchall())

    def rows(self, sql: str) -> list[dict]:
        columns, rows = self.query(sql)
        return [dict(zip(columns, row)) for row in rows]

    def job(self, job_id: str) -> dict | None:
        quoted = job_id.replace("'", "''")
        found = self.rows(f"SELECT *, TIMESTAMPDIFF(MICROSECOND, last_telemetry_at, UTC_TIMESTAMP(6)) / 1e6 "
                          f"AS silent_s FROM jobs WHERE id = '{quoted}'")
        return found[0] if found else None


def database_of(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def start_hub(home: Path, mysql_url: str, influxdb, **extra: str) -> Hub:
    hub = Hub(home, free_port())
    settings = {
        "JOBPULSE_DATABASE_URL": mysql_url,
        **influxdb.hub_environment(),
        "JOBPULSE_API_TOKEN": API_TOKEN,
        "JOBPULSE_WEBHOOK_USER": WEBHOOK_AUTH[0],
        "JOBPULSE_WEBHOOK_PASSWORD": WEBHOOK_AUTH[1],
        "JOBPULSE_RECONCILE_INTERVAL": "1",
        # Only the jobs this test registers: other tests share the InfluxDB database.
        "JOBPULSE_AUTO_REGISTER": "false",
    }
    settings.update(extra)
    hub.start(settings)
    return hub


def register(hub: Hub, job_id: str, job_type: str, machine: str, disks: int) -> None:
    r = httpx.post(f"{hub.url}/api/v1/jobs", headers={"Authorization": f"Bearer {API_TOKEN}"},
                   json={"id": job_id, "job_type": job_type, "machine": machine,
                         "disks": [{"disk_index": i} for i in range(disks)]}, timeout=10)
    assert r.status_code == 201, r.text


def post_grafana_webhook(hub: Hub, alerts: list[dict]) -> dict:
    """What Grafana's webhook contact point POSTs (payload documented for Grafana 11, version "1")."""
    body = {"receiver": "jobpulse-hub", "status": "firing" if any(a["status"] == "firing" for a in alerts)
            else "resolved", "orgId": 1, "alerts": alerts, "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://grafana.invalid/", "version": "1",
            "groupKey": "{}:{}", "truncatedAlerts": 0, "title": "[FIRING]", "state": "alerting", "message": ""}
    r = httpx.post(f"{hub.url}/api/v1/alerts/grafana", json=body, auth=WEBHOOK_AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def alert_payload(instance, status: str = "firing") -> dict:
    return {"status": status, "labels": instance.labels, "annotations": {"summary": "from the test"},
            "startsAt": "2026-11-22T15:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://grafana.invalid/alerting/grafana/x/view",
            "fingerprint": uuid.uuid4().hex[:16], "silenceURL": "", "dashboardURL": "", "panelURL": "",
            "values": {"B": instance.value, "C": 1}}


class Agent:
    """One `jobpulse-agent copy` subprocess (telemetry to the test collector)."""

    def __init__(self, env: dict, dest: Path, job_id: str, job_type: str, machine: str, *args: str) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        self.job_id = job_id
        self.argv = ["jobpulse-agent", "copy", "--dest", str(dest), "--job-id", job_id, "--job-type", job_type,
                     "--machine", machine, "--no-progress", "--summary-json", *args]
        self.proc = subprocess.Popen(self.argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def wait(self, timeout: float = 120) -> tuple[int, dict | None, str]:
        out, err = self.proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return self.proc.returncode, (json.loads(lines[-1]) if lines else None), err

    def kill(self) -> None:
        """SIGKILL: no final flush, no goodbye - the agent just goes silent."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
