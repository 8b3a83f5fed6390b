"""The agent's OTLP encoding against the SDK's own encoder, on real collections of real jobs."""

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from jobpulse.agent import DiskStatus, Phase, configure
from jobpulse.agent._encode import encode


def test_every_collection_encodes_as_the_sdk_encodes_it():
    reader = InMemoryMetricReader()
    tel = configure(reader=reader, watch_interval=None, service_name="enc-test")
    job = tel.start_job("replication", "vm-é", [2**40, 17], job_id="enc-1")
    seen = []
    for step in range(4):
        if step == 1:
            job.set_phase(Phase.TRANSFERRING)
        job.advance(0, 2**33 + step)  # beyond 32 bits: as_int must hold it
        job.advance(1, 4)
        if step == 2:
            job.set_disk_status(1, DiskStatus.COMPLETED)
        tel.watcher.tick()
        data = reader.get_metrics_data()
        ours = ExportMetricsServiceRequest.FromString(encode(data))
        assert ours == encode_metrics(data), f"collection {step} differs"
        seen.append(sum(len(sm.metrics) for rm in ours.resource_metrics for sm in rm.scope_metrics))
    job.fail("disk 0 unreadable")
    data = reader.get_metrics_data()
    assert ExportMetricsServiceRequest.FromString(encode(data)) == encode_metrics(data)
    assert min(seen) >= 10  # every job and disk metric was in each batch
    tel.shutdown()
