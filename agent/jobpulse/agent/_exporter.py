"""The agent's metric exporter: encode once, send through our own sender, spool what failed.

Each batch the SDK's reader collects is encoded to OTLP protobuf once. Those bytes go to
the collector through a :class:`~._sender.Sender`; only a batch that could not be sent is
written to the spool, and replayed, oldest first, after the next batch that could. A
process that ends during an outage (SIGTERM, exit after a bounded final flush) leaves its
last values on disk: when the final flush runs out of time, ``go_offline`` cuts the send in
flight, which then fails and spools its batch. A replayed batch that had in fact arrived
is harmless: InfluxDB keeps one point per series and timestamp.

Outages are told by the send result itself: the first failed send logs "cannot reach the
collector at URL: reason; will keep retrying", the first good one after it "reachable again".
"""

from __future__ import annotations

import logging
import threading
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from ._encode import encode
from ._sender import OnceLog, Sender, SendResult
from ._spool import Spool

_logger = logging.getLogger("jobpulse.agent")


class Outage:
    """Collector reachability, logged on change only."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        # The reader's export thread and the final flush both report; the flip must be decided once.
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


class SpoolingMetricExporter(MetricExporter):
    """The SDK's reader hands batches here; ``sender`` carries them, ``spool`` keeps the failures."""

    def __init__(self, sender: Sender, spool: Spool | None = None) -> None:
        super().__init__()
        self.sender = sender
        self.endpoint = sender.endpoint
        self.spool = spool
        self.outage = Outage(self.endpoint)
        self._refusals = OnceLog("the collector at %s refused a batch (%s): dropped, not retried")
        self._offline = False  # set at the end during an outage: spool without trying
        self._closed = False  # set after the final flush: the SDK's own last collect is dropped
        self.exports_ok = 0
        self.exports_failed = 0

    def go_offline(self) -> None:
        """Stop talking to the collector: later batches are only spooled, a send in flight is cut."""
        if self._offline:
            return
        self._offline = True
        self.sender.shutdown(1.0)

    def close(self) -> None:
        self._closed = True

    def _keep(self, body: bytes) -> None:
        if self.spool is None:
            return
        try:
            self.spool.put(self.endpoint, body)
        except Exception:  # the hot path never raises: a spool failure costs this batch only
            _logger.exception("could not spool a metrics batch")

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        if self._closed:
            return MetricExportResult.SUCCESS
        try:
            body = encode(metrics_data)
        except Exception:  # an encoder bug must not take the reader thread down
            _logger.exception("could not encode a metrics batch")
            return MetricExportResult.FAILURE
        if self._offline:
            self._keep(body)
            return MetricExportResult.FAILURE
        deadline = time.monotonic() + timeout_millis / 1000.0
        result = self._send(body, deadline)
        if result.ok:
            self.exports_ok += 1
            self.outage.recovered(self._replay(deadline))
            return MetricExportResult.SUCCESS
        self.exports_failed += 1
        if not result.keep:
            self._refusals.note(self.endpoint, result.reason)
            return MetricExportResult.FAILURE
        self._keep(body)
        if not self._offline:
            self.outage.failed(result.reason)
        return MetricExportResult.FAILURE

    def _send(self, body: bytes, deadline: float) -> SendResult:
        try:
            return self.sender.send(body, max(0.05, deadline - time.monotonic()))
        except Exception as exc:  # a sender bug must not take the reader thread down
            _logger.debug("sender failed", exc_info=True)
            return SendResult(False, f"{type(exc).__name__}: {exc}"[:160])

    def _replay(self, deadline: float) -> int:
        """Send spooled batches for this endpoint, oldest first, until one fails or time is up."""
        if self.spool is None:
            return 0
        sent = 0
        while time.monotonic() < deadline and not self._offline:
            batches = self.spool.oldest(self.endpoint)
            if not batches:
                break
            for batch in batches:
                try:
                    ExportMetricsServiceRequest.FromString(batch.body)
                except Exception:
                    _logger.warning("offline spool: skipped damaged batch %d (not an OTLP request)", batch.row_id)
                    self.spool.delete(batch.row_id)
                    continue
                if self._offline or time.monotonic() >= deadline:
                    return sent
                result = self._send(batch.body, deadline)
                if not result.ok and result.keep:
                    return sent
                if not result.ok:
                    self._refusals.note(self.endpoint, result.reason)
                self.spool.delete(batch.row_id)
                sent += result.ok
        return sent

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True  # nothing is buffered here: each export is sent or spooled before it returns

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self._offline = True
        self.sender.shutdown(timeout_millis / 1000.0)
        if self.spool is not None:
            self.spool.close()
