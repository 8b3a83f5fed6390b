"""This machine's host metrics, end to end on real parts: node collector -> central collector ->
InfluxDB -> hub reconciler -> GET /api/v1/nodes; and the seed node daemon's snapshot POST."""

from __future__ import annotations

import socket
import time
from urllib.parse import quote

import httpx
import psutil
import pytest

from jobpulse import semconv
from tests.support.influx import ON_BOTH_INFLUXDB
from tests.support.wait import wait_for

from .conftest import TOKEN

# Nodes on both InfluxDB versions: the 2.7 run's snapshot POST is written with the hub's token.
pytestmark = [pytest.mark.e2e, ON_BOTH_INFLUXDB]
MIB = 2**20

# The seed node daemon's "API POST format" (seed 004), verbatim.
SEED_SNAPSHOT = {
    "node_id": "192.168.100.27", "timestamp": "2025-12-17T10:00:00Z", "cpu_percent": 45.2,
    "memory_percent": 67.8, "memory_used_mb": 8704, "memory_total_mb": 16384, "disk_percent": 82.1,
    "disk_used_gb": 82.1, "disk_total_gb": 100.0, "network_rx_bytes": 2345678, "network_tx_bytes": 1234567,
    "network_rx_rate_mbps": 3.2, "network_tx_rate_mbps": 1.5, "uptime_seconds": 3600, "process_count": 234,
    "active_connections": 45, "load_avg_1m": 2.5, "load_avg_5m": 2.1, "load_avg_15m": 1.8,
}


def _node(hub, name):
    r = httpx.get(f"{hub.url}/api/v1/nodes/{quote(name, safe='')}", timeout=5)
    return r.json() if r.status_code == 200 else None


def test_this_machine_is_listed_with_figures_that_agree_with_psutil(hub, node):
    started = time.monotonic()
    got = wait_for(lambda: (n := _node(hub, node.node_name)) and n["cpu_percent"] is not None
                   and n["network_rx_rate_mbps"] is not None and n, 20, interval=0.5,
                   what="the node with CPU figures and a network rate in the hub")
    assert time.monotonic() - started <= 20
    assert got["memory_total_mb"] * MIB == psutil.virtual_memory().total  # exact
    assert 0 <= got["cpu_percent"] <= 100 and 0 < got["memory_percent"] < 100
    assert abs(got["load_avg_1m"] - psutil.getloadavg()[0]) < 1.5
    assert abs(got["uptime_seconds"] - (time.time() - psutil.boot_time())) < 30
    root = psutil.disk_usage("/")
    assert got["disk_total_gb"] == pytest.approx(root.total / 2**30, rel=0.01)
    assert got["disk_percent"] == pytest.approx(root.percent, abs=1.0)
    assert got["process_count"] == pytest.approx(len(psutil.pids()), rel=0.2)
    assert got["network_rx_bytes"] > 0 and got["active_connections"] >= 0
    listed = httpx.get(f"{hub.url}/api/v1/nodes", timeout=5).json()
    assert node.node_name in {n["node_id"] for n in listed["data"]} and listed["count"] == len(listed["data"])


def test_a_node_costs_the_documented_series(hub, node, influxdb):
    # Half-closed connections (FIN_WAIT2 here, CLOSE_WAIT on the other side), as a busy host always has:
    # they must fold into state "other", not add a series.
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    for _ in range(5):
        client = socket.create_connection(server.getsockname())
        held.append(server.accept()[0])
        client.close()
    wait_for(lambda: _node(hub, node.node_name), 20, interval=0.5, what="the node in the hub")
    time.sleep(3)
    for s in held + [server]:
        s.close()
    answer = influxdb.query(f"SHOW SERIES WHERE \"host.name\" = '{node.node_name}'")
    series = [v[0] for r in answer["results"] for s in r.get("series", []) for v in s["values"]]
    filesystems = {s for s in series if s.startswith(semconv.NODE_FILESYSTEM.name)}
    disks = {s for s in series if s.startswith(semconv.NODE_DISK_IO.name)}
    nics = {s for s in series if s.startswith(semconv.NODE_NETWORK_IO.name)}
    # Named without the scope tags, which every series shares: a surplus series is readable in the message.
    short = sorted(",".join(t for t in s.split(",") if not t.startswith(("otel.library", "host.name="))) for s in series)
    assert len(series) == semconv.series_per_node(len(filesystems) // 3, len(disks) // 2, len(nics) // 2), " ".join(short)
    assert not any(",cpu=" in s for s in series), "no per-CPU series"
    assert not any("device=lo," in s for s in series), "no loopback"


def test_the_seed_snapshot_post_is_accepted_and_listed(hub, influxdb, node):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # A collector's node first, so the snapshot's points share measurements (and field types) with it.
    wait_for(lambda: _node(hub, node.node_name), 20, interval=0.5, what="the collector's node in the hub")
    r = httpx.post(f"{hub.url}/api/telemetry/snapshot", json=SEED_SNAPSHOT, headers=auth, timeout=5)
    assert r.status_code == 204, r.text
    # ... and in InfluxDB as host metrics of the same shape as the node collector's (a recent one: the
    # seed's own timestamp may be older than the database keeps)
    recent = dict(SEED_SNAPSHOT, node_id=f"daemon-{node.node_name}", timestamp="2026-12-02T00:00:00Z")
    recent["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    r = httpx.post(f"{hub.url}/api/telemetry/snapshot", json=recent, headers=auth, timeout=5)
    assert r.status_code == 204, r.text
    where = f"WHERE \"host.name\" = '{recent['node_id']}'"
    answer = influxdb.query(f'SELECT "gauge" FROM "{semconv.NODE_MEMORY_LIMIT.name}" {where}', epoch="s")
    [[at, limit]] = answer["results"][0]["series"][0]["values"]
    assert limit == SEED_SNAPSHOT["memory_total_mb"] * MIB and abs(at - (time.time() - 5)) < 5
    answer = influxdb.query(f'SELECT "gauge" FROM "{semconv.NODE_CPU.name}" {where} AND "state" = \'idle\'')
    assert answer["results"][0]["series"][0]["values"][0][1] == pytest.approx(1 - 0.452)
    got = _node(hub, SEED_SNAPSHOT["node_id"])
    for key, value in SEED_SNAPSHOT.items():
        if key not in ("node_id", "timestamp"):
            assert got[key] == value, key
    assert got["last_seen_at"] == "2025-12-17T10:00:00Z"
    # bad bodies: one plain message, nothing stored
    for body, status in ((b"{", 400), (b"[]", 400), (b'{"node_id": "a/b"}', 400), (b'{"cpu_percent": 5}', 400),
                         (b'{"node_id": "n", "cpu_percent": -1}', 400)):
        r = httpx.post(f"{hub.url}/api/telemetry/snapshot", content=body, timeout=5,
                       headers=auth | {"Content-Type": "application/json"})
        assert r.status_code == status and set(r.json()) == {"detail"}, (body, r.text)
    assert httpx.post(f"{hub.url}/api/telemetry/snapshot", json=SEED_SNAPSHOT, timeout=5).status_code == 401


def test_a_job_records_the_node_it_ran_on(hub, node, agent_env, tmp_path):
    import subprocess
    import uuid

    from tests.support.disks import make_disks

    job_id = f"on-node-{uuid.uuid4().hex[:8]}"
    sources = [str(p) for p in make_disks(tmp_path / "src", [2 * MIB + 7]).paths]
    (tmp_path / "dest").mkdir()
    env = dict(agent_env, JOBPULSE_NODE_NAME=node.node_name)
    subprocess.run(["jobpulse-agent", "copy", *sources, "--dest", str(tmp_path / "dest"), "--job-id", job_id,
                    "--no-progress"], env=env, check=True, capture_output=True, timeout=60)
    job = wait_for(lambda: (r := httpx.get(f"{hub.url}/api/v1/jobs/{job_id}", timeout=5)).status_code == 200
                   and r.json()["status"] == "completed" and r.json(), 30, interval=0.5, what="the job completed")
    assert job["node"] == node.node_name
    wait_for(lambda: _node(hub, node.node_name), 20, interval=0.5, what="the node's own metrics in the hub")
    linked = httpx.get(hub.url + job["node_url"], timeout=5)
    assert linked.status_code == 200 and linked.json()["node_id"] == node.node_name


HOSTILE = ["it's \"quoted\"", "regex .*[a-z]+$ (x|y)", "back\\slash", "trailing space ", "ünïcödé"]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_node_names_round_trip(hub, name):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.post(f"{hub.url}/api/telemetry/snapshot", json={"node_id": name, "cpu_percent": 1.5}, headers=auth,
                   timeout=5)
    assert r.status_code == 204, r.text
    got = _node(hub, name)
    assert got and got["node_id"] == name and got["cpu_percent"] == 1.5


def test_unaddressable_node_names_are_refused_on_every_path(hub, collector, influxdb, tmp_path):
    from jobpulse.stack import NodeCollector, free_port

    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.post(f"{hub.url}/api/telemetry/snapshot", json={"node_id": "rack/7", "cpu_percent": 1}, headers=auth,
                   timeout=5)
    assert r.status_code == 400 and "'/'" in r.json()["detail"]
    for name, why in (("line\nbreak", "control"), ("tab\there", "control"), ("..", "'.'"), ("", "at least 1 character")):
        r = httpx.post(f"{hub.url}/api/telemetry/snapshot", json={"node_id": name, "cpu_percent": 1}, headers=auth,
                       timeout=5)
        assert r.status_code == 400 and why in r.json()["detail"], (name, r.text)
    slashed = NodeCollector(tmp_path / "slashed", free_port(), free_port(), gateway=collector.otlp_http,
                            node_name="rack/8", interval="1s")
    slashed.start()
    try:
        wait_for(lambda: influxdb.query(f'SELECT count("gauge") FROM "{semconv.NODE_UPTIME.name}" '
                                        f"WHERE \"host.name\" = 'rack/8'")["results"][0].get("series"), 20,
                 interval=0.5, what="the slashed node's points in InfluxDB")
        time.sleep(2)  # a few reconcile cycles
        listed = {n["node_id"] for n in httpx.get(f"{hub.url}/api/v1/nodes", timeout=5).json()["data"]}
        assert "rack/8" not in listed and "rack/7" not in listed
    finally:
        slashed.stop()


def test_node_series_from_its_host_metrics(hub, node):
    # CPU utilization comes from the second scrape on (a rate), like the network's: both present
    wait_for(lambda: (n := _node(hub, node.node_name)) and n["network_rx_rate_mbps"] is not None
             and n["cpu_percent"] is not None, 20, interval=0.5, what="the node with two snapshots")
    url = f"{hub.url}/api/v1/nodes/{quote(node.node_name, safe='')}/series"
    for metric in ("cpu_percent", "memory_used_mb", "load_avg_1m", "network_rx_rate_mbps", "process_count"):
        r = httpx.get(url, params={"metric": metric, "step": "2s"}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["metric"] == metric and body["points"], (metric, body)
        values = [p["value"] for p in body["points"]]
        if metric == "cpu_percent":
            assert all(0 <= v <= 100 for v in values)
        if metric == "memory_used_mb":
            assert all(0 < v <= psutil.virtual_memory().total / MIB for v in values)
    # metric and step are checked against the document's enum and pattern (422, FastAPI's list)
    assert httpx.get(url, params={"metric": "nope"}, timeout=5).status_code == 422
    assert httpx.get(url, params={"metric": "cpu_percent", "step": "soon"}, timeout=5).status_code == 422
    missing = httpx.get(f"{hub.url}/api/v1/nodes/no-such-node/series", params={"metric": "cpu_percent"}, timeout=5)
    assert missing.status_code == 404 and set(missing.json()) == {"detail"}
