"""The offline spool: order, bound, damaged rows."""

import logging
import sqlite3

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

from jobpulse.agent import HttpSender, Spool, SpoolingMetricExporter, configure
from tests.support.otlp_sink import OtlpSink


def _req(tag: str) -> bytes:
    r = ExportMetricsServiceRequest()
    r.resource_metrics.add().schema_url = tag
    return r.SerializeToString()


def test_oldest_first_and_bounded(tmp_path, caplog):
    spool = Spool(tmp_path / "s.db", max_batches=3)
    for i in range(5):
        spool.put("http://x/v1/metrics", _req(str(i)))
    assert spool.count() == 3
    bodies = [ExportMetricsServiceRequest.FromString(b.body).resource_metrics[0].schema_url
              for b in spool.oldest("http://x/v1/metrics")]
    assert bodies == ["2", "3", "4"]
    assert "dropped the 1 oldest" in caplog.text
    assert spool.oldest("http://other/v1/metrics") == []


def test_replays_in_order_and_skips_damaged_rows(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    spool = Spool(tmp_path / "s.db")
    sink = OtlpSink()
    sink.status = 503  # a collector that is up but refusing work: batches must wait in the spool
    wrapper = SpoolingMetricExporter(HttpSender(sink.url + "/v1/metrics", timeout=2), spool)

    # Real MetricsData from a real collection, fed to the exporter by hand.
    reader = InMemoryMetricReader()
    tel = configure(reader=reader, watch_interval=None)
    job = tel.start_job("backup", "vm", [10], job_id="sp")
    batches = []
    for i in range(3):
        job.advance(0, 1)
        batches.append(reader.get_metrics_data())
    try:
        assert [wrapper.export(b) for b in batches] == [MetricExportResult.FAILURE] * 3
        assert spool.count() == 3
        with sqlite3.connect(tmp_path / "s.db") as db:  # damage the middle row
            db.execute("UPDATE batches SET body = ? WHERE id = 2", (b"\xff\xffnot protobuf",))
        sink.status = 200
        job.advance(0, 1)
        assert wrapper.export(reader.get_metrics_data()) is MetricExportResult.SUCCESS
        # the live batch (4), then rows 1 and 3 in that order
        values = [v for n, _, _, v in sink.points() if n == "jobpulse.job.transferred"]
        assert values == [4, 1, 3]
        assert "skipped damaged batch 2" in caplog.text
        assert caplog.text.count("cannot reach the collector") == 1
        assert "HTTP 503" in caplog.text
        assert caplog.text.count("reachable again; re-sent 2 spooled batches") == 1
        assert spool.count() == 0
    finally:
        wrapper.shutdown()
        sink.close()
        tel.shutdown()
