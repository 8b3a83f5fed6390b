"""Shared helpers of the hub tests: credentials, settings and registration (points are
written with tests.support.line_protocol)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from jobpulse.hub import Settings
from jobpulse.hub.core.clock import utcnow

TOKEN = "test-token-0123456789"
WEBHOOK_USER = "grafana"
WEBHOOK_PASSWORD = "hook-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(database_url: str, **overrides) -> Settings:
    values = dict(
        database_url=database_url,
        api_token=TOKEN,
        webhook_user=WEBHOOK_USER,
        webhook_password=WEBHOOK_PASSWORD,
        reconciler_enabled=False,
        influx_url="http://127.0.0.1:9",  # nothing listens: tests that need InfluxDB override
    )
    values.update(overrides)
    return Settings(**values)


def register(client: TestClient, job_id: str, disks: Iterable[int] = (100, 200), *, job_type="backup",
             machine="vm-1") -> dict:
    body = {"id": job_id, "job_type": job_type, "machine": machine,
            "disks": [{"disk_index": i, "size_bytes": s} for i, s in enumerate(disks)]}
    r = client.post("/api/v1/jobs", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)

