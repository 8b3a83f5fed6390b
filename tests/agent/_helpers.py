"""Agent-only test doubles: a hand-moved clock and an in-process exporter that records every batch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from tests.support.disks import make_disk

AGENT = [sys.executable, "-m", "jobpulse.agent.cli", "copy"]
MiB = 1024 * 1024


def start_throttled_copy(folder: Path, name: str = "disk0.img") -> tuple[Path, subprocess.Popen]:
    """An 8 MiB copy at 4 MiB/s without telemetry, so a test can change its source mid-copy."""
    src = make_disk(folder / name, 8 * MiB)
    dest = folder / "out"
    dest.mkdir()
    proc = subprocess.Popen(
        AGENT + [str(src), "--dest", str(dest), "--no-telemetry", "--summary-json", "--max-rate", "4M"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return src, proc


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingExporter(MetricExporter):
    """Keeps every exported batch with the time it arrived (a real in-process exporter)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[float, object]] = []
        self.lock = threading.Lock()

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        with self.lock:
            self.batches.append((time.monotonic(), metrics_data))
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass

    def count(self) -> int:
        with self.lock:
            return len(self.batches)

    def last_points(self) -> dict:
        with self.lock:
            return points(self.batches[-1][1])


def points(metrics_data) -> dict:
    """{metric name: [(attributes dict, value), ...]} of one MetricsData."""
    out: dict = {}
    for rm in metrics_data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend((dict(p.attributes), p.value) for p in m.data.data_points)
    return out
