"""The agent's own OTLP transport: one encoding per batch, failures spooled, refusals dropped, both protocols."""

import logging
import sqlite3
import subprocess
import sys
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)

from jobpulse import semconv as sc
from jobpulse.agent import ConfigurationError, Spool, configure
from tests.support.otlp_sink import OtlpSink


@pytest.fixture
def sink():
    s = OtlpSink()
    yield s
    s.close()


def _run_job(tel, job_id="s-1", steps=3):
    job = tel.start_job("backup", "vm", [100], job_id=job_id)
    for _ in range(steps):
        job.advance(0, 10)
        tel.flush(5)
    job.complete()
    tel.shutdown()


def _inserts(path) -> int:
    """Rows ever written to the spool (AUTOINCREMENT keeps the highest id handed out)."""
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'batches'").fetchone()
    return row[0] if row else 0


def test_a_healthy_run_never_touches_the_spool(sink, tmp_path):
    tel = configure(endpoint=sink.url + "/v1/metrics", spool=Spool(tmp_path / "s.db"))
    _run_job(tel, steps=4)
    assert sink.received >= 5  # start, each forced flush, the end
    assert not (tmp_path / "s.db").exists()


def test_only_failed_batches_are_written_to_the_spool(sink, tmp_path):
    tel = configure(endpoint=sink.url + "/v1/metrics", spool=Spool(tmp_path / "s.db"))
    job = tel.start_job("backup", "vm", [100], job_id="half")
    tel.flush(5)
    sent_before = sink.received
    sink.status = 503
    for _ in range(3):
        job.advance(0, 10)
        tel.flush(5)
    failed = tel.exporter.exports_failed
    sink.status = 200
    job.complete()
    tel.shutdown()
    assert sent_before >= 1 and failed >= 3
    assert _inserts(tmp_path / "s.db") == failed  # each failure once, nothing else
    assert Spool(tmp_path / "s.db").count() == 0  # and all of them re-sent after the recovery


def test_headers_from_the_environment_reach_the_collector(sink, monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20s3cret,x-tenant=blue")
    tel = configure(endpoint=sink.url + "/v1/metrics", spool=False)
    _run_job(tel, steps=1)
    assert sink.headers and all(h["authorization"] == "Bearer s3cret" and h["x-tenant"] == "blue"
                                for h in sink.headers)


def test_a_malformed_header_variable_is_one_plain_error(monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization Bearer secret")
    with pytest.raises(ConfigurationError) as err:
        configure(spool=False)
    assert "secret" not in str(err.value)  # a credential is never echoed
    src = tmp_path / "d.img"
    src.write_bytes(b"x" * 1000)
    p = subprocess.run([sys.executable, "-m", "jobpulse.agent.cli", "copy", str(src), "--dest", str(tmp_path)],
                       capture_output=True, text=True, env={**_env(), "OTEL_EXPORTER_OTLP_HEADERS": "nonsense"})
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "OTEL_EXPORTER_OTLP_HEADERS" in p.stderr, p.stderr


def test_refused_batches_are_dropped_once_and_never_replayed(sink, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    sink.status = 400  # the collector says the data itself is bad: sending it again cannot help
    tel = configure(endpoint=sink.url + "/v1/metrics", spool=Spool(tmp_path / "s.db"))
    _run_job(tel, steps=3)
    assert Spool(tmp_path / "s.db").count() == 0
    assert caplog.text.count("refused a batch (HTTP 400") == 1
    assert "cannot reach the collector" not in caplog.text


def test_overload_answers_are_kept_and_sent_when_the_collector_recovers(sink, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    sink.status = 503
    tel = configure(endpoint=sink.url + "/v1/metrics", spool=Spool(tmp_path / "s.db"))
    _run_job(tel, job_id="overloaded", steps=2)
    kept = Spool(tmp_path / "s.db").count()
    assert kept >= 3 and caplog.text.count("cannot reach the collector") == 1 and "HTTP 503" in caplog.text
    sink.status = 200
    tel2 = configure(endpoint=sink.url + "/v1/metrics", spool=Spool(tmp_path / "s.db"))
    _run_job(tel2, job_id="next", steps=1)
    got = {(a[sc.ATTR_JOB_ID], v) for n, _, a, v in sink.points() if n == sc.JOB_STATUS.name}
    assert ("overloaded", sc.Status.COMPLETED) in got and ("next", sc.Status.COMPLETED) in got
    assert Spool(tmp_path / "s.db").count() == 0


def test_a_partial_success_is_reported_once(sink, caplog):
    caplog.set_level(logging.WARNING)
    sink.response = ExportMetricsServiceResponse(partial_success=ExportMetricsPartialSuccess(
        rejected_data_points=2, error_message="bad unit")).SerializeToString()
    tel = configure(endpoint=sink.url + "/v1/metrics", spool=False)
    _run_job(tel, steps=3)
    assert caplog.text.count("2 points rejected: bad unit") == 1


class _Collector(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self):
        self.requests = []
        self.metadata = []

    def Export(self, request, context):  # noqa: N802 - the generated service's naming
        self.requests.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        return ExportMetricsServiceResponse()


def test_grpc_sends_the_same_batches(monkeypatch, tmp_path):
    collector = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=green")
    try:
        tel = configure(protocol="grpc", endpoint=f"http://127.0.0.1:{port}", spool=Spool(tmp_path / "s.db"))
        assert tel.description == f"OTLP grpc -> http://127.0.0.1:{port}"
        _run_job(tel, job_id="over-grpc", steps=2)
    finally:
        server.stop(0)
    values = [p.as_int for r in collector.requests for rm in r.resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics if m.name == sc.JOB_TRANSFERRED.name for p in m.sum.data_points]
    assert values and values[-1] == 20
    assert all(md.get("x-tenant") == "green" for md in collector.metadata)
    assert Spool(tmp_path / "s.db").count() == 0


def test_grpc_collector_down_spools(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    tel = configure(protocol="grpc", endpoint="http://127.0.0.1:1", spool=Spool(tmp_path / "s.db"), final_timeout=2)
    _run_job(tel, steps=1)
    assert Spool(tmp_path / "s.db").count() >= 1
    assert caplog.text.count("cannot reach the collector at http://127.0.0.1:1: unavailable") == 1


def _env():
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
