"""The exporter wrapper: durable offline queue and one plain log line per outage.

Every batch is written to the spool *before* it is sent and removed once the
collector accepted it, so a process that ends during an outage (SIGTERM, exit
after a bounded final flush) leaves its last values on disk; the next run that
reaches the same endpoint replays them, oldest first. A replayed batch that had
in fact arrived is harmless: InfluxDB keeps one point per series and timestamp.

The SDK's exporters log a line per retry. A filter on their loggers swallows
those lines and turns the first one into the start of an outage, so the agent
says once "cannot reach the collector at URL: reason; will keep retrying" and
once when it is back.
"""

from __future__ import annotations

import logging
import threading

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from ._spool import Spool

_logger = logging.getLogger("jobpulse.agent")

# The loggers the SDK's OTLP exporters complain through, once per retry.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
)
_RETRY_NOISE = ("Transient error", "Failed to export", "Shutdown in progress", "already shutdown", "aborting retry")


class Outage:
    """Collector reachability, logged on change only."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        # Export thread, flusher and log filter all report here; the flag flip must be decided once.
        self._lock = threading.Lock()
        self.down = False

    def failed(self, reason: str) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        _logger.warning("cannot reach the collector at %s: %s; will keep retrying", self.endpoint, reason)

    def recovered(self, replayed: int = 0) -> None:
        with self._lock:
            if not self.down:
                return
            self.down = False
        extra = f"; re-sent {replayed} spooled batches" if replayed else ""
        _logger.warning("collector at %s reachable again%s", self.endpoint, extra)


class _RetryNoiseFilter(logging.Filter):
    def __init__(self, outage: Outage) -> None:
        super().__init__("jobpulse-retry-noise")
        self._outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if record.levelno >= logging.WARNING and any(n in msg for n in _RETRY_NOISE):
            if "Transient error" in msg or "Failed to export" in msg:
                self._outage.failed(_reason(msg))
            return False
        return True


def _reason(msg: str) -> str:
    low = msg.lower()
    if "refused" in low:
        return "connection refused"
    if "timed out" in low or "timeout" in low or "deadline" in low:
        return "timed out"
    if "unavailable" in low:
        return "unavailable"
    return msg.split(", retrying")[0][:160]


def _raw_sender(inner: MetricExporter):
    """How to send already-encoded bytes through ``inner``'s own transport (private SDK API).

    Returns None when the exporter offers no such path; the spool then only keeps batches.
    """
    client = getattr(inner, "_client", None)
    if client is not None and hasattr(client, "export") and hasattr(client, "_endpoint"):
        return lambda body: bool(client.export(body).success)  # OTLP/HTTP
    if client is not None and hasattr(client, "Export"):
        def grpc_send(body: bytes) -> bool:
            try:
                client.Export(
                    request=ExportMetricsServiceRequest.FromString(body),
                    metadata=getattr(inner, "_headers", None),
                    timeout=getattr(inner, "_timeout", 10),
                )
                return True
            except Exception:  # grpc.RpcError and friends: the batch stays spooled
                return False
        return grpc_send
    return None


class SpoolingMetricExporter(MetricExporter):
    """Wraps an OTLP metric exporter with the offline spool and outage logging."""

    def __init__(self, inner: MetricExporter, endpoint: str, spool: Spool | None = None) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.endpoint = endpoint
        self.spool = spool
        self.outage = Outage(endpoint)
        self._send_raw = _raw_sender(inner)
        self._filter = _RetryNoiseFilter(self.outage)
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._offline = False  # set at the end during an outage: spool without trying
        self._closed = False  # set after the final flush: the SDK's own last collect is dropped
        self.exports_ok = 0
        self.exports_failed = 0

    def go_offline(self) -> None:
        """Stop talking to the collector: abort the SDK's retry sleeps; later batches are only spooled."""
        if self._offline:
            return
        self._offline = True
        try:
            self.inner.shutdown(timeout_millis=1000)
        except Exception:
            _logger.debug("inner exporter shutdown failed", exc_info=True)

    def close(self) -> None:
        self._closed = True

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        if self._closed:
            return MetricExportResult.SUCCESS
        row = None
        if self.spool is not None:
            try:
                row = self.spool.put(self.endpoint, encode_metrics(metrics_data).SerializeToString())
            except Exception:
                _logger.exception("could not spool a metrics batch")
        if self._offline:
            return MetricExportResult.FAILURE
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        except Exception as exc:  # an exporter bug must not take the reader thread down
            result = MetricExportResult.FAILURE
            self.outage.failed(str(exc))
        if result is MetricExportResult.SUCCESS:
            self.exports_ok += 1
            if self.spool is not None:
                self.spool.delete(row)
            self.outage.recovered(self._replay())
        else:
            self.exports_failed += 1
            if not self._offline:
                self.outage.failed("export failed")
        return result

    def _replay(self) -> int:
        """Send spooled batches for this endpoint, oldest first; stop at the first failure."""
        if self.spool is None or self._send_raw is None:
            return 0
        sent = 0
        for batch in self.spool.oldest(self.endpoint):
            try:
                ExportMetricsServiceRequest.FromString(batch.body)
            except Exception:
                _logger.warning("offline spool: skipped damaged batch %d (not an OTLP request)", batch.row_id)
                self.spool.delete(batch.row_id)
                continue
            if self._offline or not self._send_raw(batch.body):
                break
            self.spool.delete(batch.row_id)
            sent += 1
        return sent

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)
        if not self._offline:
            self._offline = True
            try:
                self.inner.shutdown(timeout_millis=timeout_millis)
            except Exception:
                _logger.debug("inner exporter shutdown failed", exc_info=True)
        if self.spool is not None:
            self.spool.close()
