"""Real OTLP over HTTP: the agent's exporter posts to a server in the test, which decodes it."""

import socket

import pytest
from jobpulse.agent import DiskStatus, Phase, Spool, configure
from jobpulse import semconv as sc
from tests.support.otlp_sink import OtlpSink


@pytest.fixture
def sink():
    s = OtlpSink()
    yield s
    s.close()


def test_final_values_arrive_over_otlp_http(sink, monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    tel = configure(spool=Spool(tmp_path / "spool.db"))
    assert tel.description == f"OTLP http/protobuf -> {sink.url}/v1/metrics"
    job = tel.start_job("backup", "vm-otlp", [3000, 5000], job_id="otlp-1")
    job.set_phase(Phase.TRANSFERRING)
    job.advance(0, 3000)
    job.set_disk_status(0, DiskStatus.COMPLETED)
    job.advance(1, 5000)
    job.complete()
    tel.shutdown()

    pts = sink.points()
    assert pts, "nothing arrived"
    names = {name for name, *_ in pts}
    assert names >= {m.name for m in sc.JOB_METRICS + sc.DISK_METRICS}
    name, res, attrs, _ = pts[0]
    assert res["service.name"] == "jobpulse-agent"
    assert res["deployment.environment"] == "test"
    # the process's identity as a sender: one id, the same on every point of the process
    assert len(res["service.instance.id"]) == 36 and {r["service.instance.id"] for _, r, _, _ in pts} == {
        res["service.instance.id"]}
    for name, _, attrs, _ in pts:
        assert set(attrs) == set(sc.METRICS_BY_NAME[name].attributes)
        assert attrs[sc.ATTR_JOB_ID] == "otlp-1" and attrs[sc.ATTR_MACHINE] == "vm-otlp"

    def last(metric, **where):
        vals = [v for n, _, a, v in pts if n == metric.name and all(a.get(k) == w for k, w in where.items())]
        return vals[-1]

    assert last(sc.JOB_STATUS) == sc.Status.COMPLETED
    assert last(sc.JOB_PHASE) == sc.Phase.DONE
    assert last(sc.JOB_TRANSFERRED) == 8000 == last(sc.JOB_TOTAL)
    assert last(sc.JOB_PROGRESS) == 100.0
    assert last(sc.DISK_TRANSFERRED, **{sc.ATTR_DISK_INDEX: 0}) == 3000
    assert last(sc.DISK_TRANSFERRED, **{sc.ATTR_DISK_INDEX: 1}) == 5000
    assert last(sc.DISK_STATUS, **{sc.ATTR_DISK_INDEX: 1}) == DiskStatus.COMPLETED
    assert last(sc.JOB_DURATION) > 0


def test_collector_down_spools_then_replays_in_order(tmp_path, caplog):
    spool = Spool(tmp_path / "spool.db")
    port = _closed_port()
    endpoint = f"http://127.0.0.1:{port}/v1/metrics"
    tel = configure(endpoint=endpoint, spool=spool, export_interval_millis=5000, final_timeout=2)
    job = tel.start_job("backup", "vm", [100], job_id="spooled")
    job.advance(0, 100)
    job.fail("network gone")
    tel.shutdown()
    rows = Spool(tmp_path / "spool.db")
    assert rows.count() >= 1
    assert caplog.text.count("cannot reach the collector") == 1
    rows.close()

    # The collector is back at the same endpoint: the next run replays the old batches.
    sink = OtlpSink(port=port)
    try:
        tel2 = configure(endpoint=endpoint, spool=Spool(tmp_path / "spool.db"), export_interval_millis=5000)
        job2 = tel2.start_job("backup", "vm", [1], job_id="next-run")
        job2.complete()
        tel2.shutdown()
        got = [(a[sc.ATTR_JOB_ID], v) for n, _, a, v in sink.points() if n == sc.JOB_STATUS.name]
        assert ("spooled", sc.Status.FAILED) in got  # the final value survived the outage
        assert ("next-run", sc.Status.COMPLETED) in got
        assert Spool(tmp_path / "spool.db").count() == 0
        assert "reachable again" not in caplog.text or caplog.text.count("reachable again") <= 1
    finally:
        sink.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
