"""node_down on real data: a node collector stopped is paged; the same silence while the hub's
pipeline is not fresh is not (the rule's SQL evaluated as Grafana would, emulation.alerting)."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from jobpulse.stack import NodeCollector, free_port
from tests.grafana import grafana_files as gf
from tests.grafana.emulation.alerting import evaluate
from tests.grafana.grafana_e2e import GrafanaMySQL, database_of
from tests.support.hub import hub_process
from tests.support.wait import wait_for

from .conftest import TOKEN

pytestmark = pytest.mark.e2e
RULE = next(r for r in gf.rules() if r["labels"]["rule"] == "node_down")


def _firing(grafana, only=None) -> dict[str, bool]:
    """node -> firing; ``only``: these nodes (the session's InfluxDB holds other tests' nodes too)."""
    out = {i.labels["node"]: i.firing for i in evaluate(RULE, grafana.query)}
    return out if only is None else {k: v for k, v in out.items() if k in only}


def test_a_stopped_node_collector_is_paged_but_not_while_the_pipeline_is_down(tmp_path, mysql_url, mariadb,
                                                                               influxdb, collector):
    with hub_process(tmp_path / "hub", mysql_url, influxdb, TOKEN, node_down_after="6",
                     freshness_seconds="4") as hub, contextlib.ExitStack() as running:
        grafana = GrafanaMySQL(mariadb, database_of(mysql_url))
        a, b = (NodeCollector(tmp_path / name, free_port(), free_port(), gateway=collector.otlp_http,
                              node_name=f"{name}-{uuid.uuid4().hex[:6]}", interval="1s") for name in ("a", "b"))
        for n in (a, b):
            n.start()
            running.callback(n.stop)
        ours = {a.node_name, b.node_name}
        wait_for(lambda: _firing(grafana, ours) == {a.node_name: False, b.node_name: False}, 30, interval=0.5,
                 what="both nodes monitored and healthy")
        a.stop()
        wait_for(lambda: _firing(grafana, ours) == {a.node_name: True, b.node_name: False}, 20, interval=0.5,
                 what="node_down firing for the stopped node only")
        hub.stop()  # the pipeline goes stale: no node is paged for it
        wait_for(lambda: _firing(grafana) == {}, 20, interval=0.5, what="node_down silent while the hub is down")
