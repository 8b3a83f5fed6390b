"""Node fixtures: a real hub process and a real node collector of this machine, through the
session's collector and InfluxDB."""

from __future__ import annotations

import uuid

import pytest

from jobpulse.stack import NodeCollector, free_port
from tests.support.hub import hub_process

TOKEN = "node-test-token-0123456789"


@pytest.fixture
def hub(tmp_path, mysql_url, influxdb):
    with hub_process(tmp_path / "hub", mysql_url, influxdb, TOKEN) as h:
        yield h


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
