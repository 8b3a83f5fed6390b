"""Scale-out on one machine, with our own processes as a fleet's parts: two central collectors behind a
load balancer, three hub replicas on one MariaDB, four agents. Mid-job the leading hub is SIGKILLed and
so is one collector: every job still ends completed with its exact total, one reconciler leads at any
time, and another replica takes over within seconds."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, text

from jobpulse.stack import Collector, free_port
from tests.support.balancer import Balancer
from tests.support.disks import make_disks
from tests.support.hub import hub_process
from tests.support.wait import wait_for

from tests.pipeline.conftest import finish, start_copy

pytestmark = [pytest.mark.e2e, pytest.mark.deploy]

TOKEN = "scale-out-token-5a5a"
SIZES = (5 * 2**20 + 3, 3 * 2**20 + 1001)


def test_a_fleet_survives_losing_its_leading_hub_and_a_collector(tmp_path, mysql_url, influxdb, collector):
    second = Collector(tmp_path / "otelcol-b", free_port(), free_port(), free_port(), free_port(), influxdb)
    second.start()
    balancer = Balancer([("127.0.0.1", collector.http_port), ("127.0.0.1", second.http_port)])
    engine = create_engine(mysql_url)
    with contextlib.ExitStack() as stack:
        stack.callback(second.stop)
        stack.callback(balancer.close)
        stack.callback(engine.dispose)
        hubs = [stack.enter_context(hub_process(tmp_path / f"hub{i}", mysql_url, influxdb, TOKEN))
                for i in range(3)]
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=balancer.url, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
        disks = make_disks(tmp_path / "src", SIZES)
        jobs = [f"fleet-{n}-{uuid.uuid4().hex[:6]}" for n in range(4)]
        copies = [start_copy(env, disks, tmp_path / job, job, "1M") for job in jobs]

        def leader():
            with engine.connect() as conn:
                return conn.execute(text("SELECT reconciler_id, last_reconcile_at FROM pipeline_state")).first()

        api = httpx.Client(base_url=hubs[0].url, timeout=10)
        wait_for(lambda: all(api.get(f"/api/v1/jobs/{j}").status_code == 200 and
                             api.get(f"/api/v1/jobs/{j}").json()["bytes_transferred"] > 0 for j in jobs), 60,
                 what="every job under way")
        assert min(balancer.connections) >= 1, "agents reached both collectors"
        old_id = leader()[0]
        pid = int(old_id.split(":")[1])
        os.kill(pid, signal.SIGKILL)  # the leading hub crashes
        killed_at = time.monotonic()
        second.kill()  # and so does a collector
        # SIGKILL is delivered, not awaited: on a busy machine the process is gone a moment later.
        def two_running():
            alive = [h for h in hubs if h.running]
            return alive if len(alive) == 2 else None

        survivors = wait_for(two_running, 10, what="the killed hub to be gone")

        seen = set()

        def new_leader():
            row = leader()
            if row and row[0] != old_id:
                seen.add(row[0])
                return row
            return None

        wait_for(new_leader, 30, what="another replica to lead")
        failover = time.monotonic() - killed_at
        assert failover < 15, f"failover took {failover:.1f} s"
        for copy in copies:
            finish(copy)
        api = httpx.Client(base_url=survivors[0].url, timeout=10)
        for job in jobs:
            done = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job}").json())["status"] == "completed" and j, 60,
                            what=f"{job} completed")
            assert done["bytes_transferred"] == done["total_bytes"] == sum(SIZES), job
            assert [d["bytes_transferred"] for d in done["disks"]] == list(SIZES)
        for _ in range(6):  # one reconciler at a time: the new leader keeps the lock
            new_leader()
            time.sleep(0.5)
        assert len(seen) == 1, f"leaders after the crash: {seen}"
        print(f"failover {failover:.1f} s; connections per collector {balancer.connections}")
