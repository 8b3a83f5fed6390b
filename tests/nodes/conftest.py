"""Node fixtures: a real hub process and a real node collector of this machine, through the
session's collector and InfluxDB."""

from __future__ import annotations

import uuid

import pytest

from jobpulse.hub.migrations import upgrade
from jobpulse.stack import Hub, NodeCollector, free_port

TOKEN = "node-test-token-0123456789"


@pytest.fixture
def hub(tmp_path, mysql_url, influxdb):
    upgrade(mysql_url)
    h = Hub(tmp_path / "hub", free_port())
    h.start({
        "JOBPULSE_DATABASE_URL": mysql_url,
        "JOBPULSE_INFLUX_URL": influxdb.url,
        "JOBPULSE_INFLUX_DB": influxdb.database,
        "JOBPULSE_API_TOKEN": TOKEN,
        "JOBPULSE_RECONCILE_INTERVAL": "0.5",
    })
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def node(tmp_path, collector):
    """This machine's node collector under a name of its own (tests never share a node)."""
    n = NodeCollector(tmp_path / "node", free_port(), free_port(), gateway=collector.otlp_http,
                      node_name=f"node-{uuid.uuid4().hex[:8]}", interval="2s")
    n.start()
    try:
        yield n
    finally:
        n.stop()
