"""The collector's door (collector-config: bearertokenauth/otlp on both OTLP receivers): a forged OTLP
request without the token, or with a wrong one, is refused by the real collector and nothing of it
reaches InfluxDB, over HTTP and gRPC alike, while the agent's own points (sent with the token through
OTEL_EXPORTER_OTLP_HEADERS) land exactly; and the same collector serving TLS (otlp-tls.yaml) takes
an agent that trusts its CA through OTEL_EXPORTER_OTLP_CERTIFICATE."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from jobpulse import semconv
from jobpulse.stack import Collector, free_port, repo_root

from tests.support.tls import self_signed

from .conftest import finish, last_values, new_job_id, start_copy, wait_final_totals

pytestmark = [pytest.mark.e2e, pytest.mark.security]

OTLP_METRICS = "/v1/metrics"


def without_token(env: dict, **extra: str) -> dict:
    env = dict(env, **extra)
    env.pop("OTEL_EXPORTER_OTLP_HEADERS", None)
    return env


def landed(influxdb, job_id: str) -> dict:
    return last_values(influxdb, job_id, semconv.JOB_TRANSFERRED)


def test_a_request_without_the_token_is_refused_at_the_door(collector):
    empty_request = b""  # an empty ExportMetricsServiceRequest: valid protobuf, no data
    r = httpx.post(collector.otlp_http + OTLP_METRICS, content=empty_request,
                   headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 401, r.text
    r = httpx.post(collector.otlp_http + OTLP_METRICS, content=empty_request,
                   headers={"Content-Type": "application/x-protobuf", "Authorization": "Bearer forged"})
    assert r.status_code == 401
    r = httpx.post(collector.otlp_http + OTLP_METRICS, content=empty_request,
                   headers={"Content-Type": "application/x-protobuf",
                            "Authorization": f"Bearer {collector.token}"})
    assert r.status_code == 200, "the same request with the token is taken"


@pytest.mark.parametrize("protocol, endpoint", [("http/protobuf", "otlp_http"), ("grpc", "otlp_grpc")])
def test_forged_job_points_never_reach_influxdb_while_the_agents_do(collector, influxdb, disks, tmp_path,
                                                                    protocol, endpoint):
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=getattr(collector, endpoint),
               OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
    real_id, forged_id, wrong_id = new_job_id("door-real"), new_job_id("door-forged"), new_job_id("door-wrong")
    real = start_copy(env, disks, tmp_path / "real", real_id, "8M")
    forged = start_copy(without_token(env, JOBPULSE_SPOOL_DIR=str(tmp_path / "spool-forged")), disks,
                        tmp_path / "forged", forged_id, "8M")
    wrong = start_copy(dict(env, OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20guessed",
                            JOBPULSE_SPOOL_DIR=str(tmp_path / "spool-wrong")), disks, tmp_path / "wrong",
                       wrong_id, "8M")
    finish(real)
    finish(forged)  # the copy itself succeeds; its telemetry waits in its spool
    finish(wrong)
    totals, _ = wait_final_totals(influxdb, real_id, disks)
    assert sum(totals.values()) == sum(disks.sizes), "the agent with the token lands to the byte"
    time.sleep(3)  # well past the collector's 1 s batch
    assert landed(influxdb, forged_id) == {} and landed(influxdb, wrong_id) == {}
    measurements = influxdb.query(f"SHOW SERIES WHERE \"{semconv.ATTR_JOB_ID}\" = '{forged_id}'")
    assert "series" not in measurements["results"][0]


def test_the_collector_serves_tls_to_an_agent_that_trusts_its_ca(collector, influxdb, disks, tmp_path):
    cert, key = self_signed(tmp_path, "otlp")
    tls = Collector(tmp_path / "otelcol-tls", free_port(), free_port(), free_port(), free_port(), influxdb,
                    overlays=(repo_root() / "collector-config" / "otlp-tls.yaml",),
                    extra_env={"JOBPULSE_OTLP_TLS_CERT_FILE": str(cert), "JOBPULSE_OTLP_TLS_KEY_FILE": str(key)})
    tls.start()
    try:
        https = f"https://127.0.0.1:{tls.http_port}"
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=https, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                   OTEL_EXPORTER_OTLP_CERTIFICATE=str(cert))
        job_id, untrusting_id = new_job_id("door-tls"), new_job_id("door-tls-untrusted")
        finish(start_copy(env, disks, tmp_path / "dest", job_id, "8M"))
        untrusting = dict(env, JOBPULSE_SPOOL_DIR=str(tmp_path / "spool-untrusting"))
        untrusting.pop("OTEL_EXPORTER_OTLP_CERTIFICATE")
        finish(start_copy(untrusting, disks, tmp_path / "dest2", untrusting_id, "8M"))
        totals, _ = wait_final_totals(influxdb, job_id, disks)
        assert sum(totals.values()) == sum(disks.sizes)
        assert landed(influxdb, untrusting_id) == {}, "an agent that cannot verify the certificate sends nothing"
        plain = httpx.post(f"http://127.0.0.1:{tls.http_port}{OTLP_METRICS}", content=b"", timeout=5)
        assert plain.status_code == 400, "plain HTTP on the TLS port is refused (Go's TLS server answers 400)"
    finally:
        tls.stop()
