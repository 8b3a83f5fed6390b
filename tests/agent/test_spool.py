"""The offline spool: order, bound, damaged rows."""

import logging
import sqlite3

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

from jobpulse.agent import Spool, SpoolingMetricExporter, configure

from ._helpers import RecordingExporter


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


class FlakyExporter(RecordingExporter):
    """Fails while ``up`` is False; records raw replays like a collector would."""

    def __init__(self):
        super().__init__()
        self.up = False
        self.raw: list[bytes] = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        if not self.up:
            return MetricExportResult.FAILURE
        return super().export(metrics_data)


def test_replays_in_order_and_skips_damaged_rows(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    spool = Spool(tmp_path / "s.db")
    inner = FlakyExporter()
    wrapper = SpoolingMetricExporter(inner, "ep", spool)
    wrapper._send_raw = lambda body: inner.raw.append(body) or True  # what the OTLP client would send

    # Real MetricsData from a real collection, fed to the wrapper by hand.
    reader = InMemoryMetricReader()
    tel = configure(reader=reader, watch_interval=None)
    job = tel.start_job("backup", "vm", [10], job_id="sp")
    batches = []
    for i in range(3):
        job.advance(0, 1)
        batches.append(reader.get_metrics_data())
    assert [wrapper.export(b) for b in batches] == [MetricExportResult.FAILURE] * 3
    assert spool.count() == 3
    with sqlite3.connect(tmp_path / "s.db") as db:  # damage the middle row
        db.execute("UPDATE batches SET body = ? WHERE id = 2", (b"\xff\xffnot protobuf",))
    inner.up = True
    job.advance(0, 1)
    assert wrapper.export(reader.get_metrics_data()) is MetricExportResult.SUCCESS
    assert len(inner.raw) == 2  # rows 1 and 3, in that order
    sent = [ExportMetricsServiceRequest.FromString(b) for b in inner.raw]
    values = [
        [p.as_int for m in r.resource_metrics[0].scope_metrics[0].metrics if m.name == "jobpulse.job.transferred"
         for p in m.sum.data_points][0]
        for r in sent
    ]
    assert values == [1, 3]
    assert "skipped damaged batch 2" in caplog.text
    assert caplog.text.count("cannot reach the collector") == 1
    assert caplog.text.count("reachable again") == 1
    assert spool.count() == 0
    tel.shutdown()
