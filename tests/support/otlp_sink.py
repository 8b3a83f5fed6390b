"""A real OTLP/HTTP receiver standing in for the collector, for agent tests and the agent benchmark.

It answers every export like a collector does (200, empty ExportMetricsServiceResponse), over
HTTP/1.1 keep-alive as the exporter expects. Tests keep and decode every request; the
benchmark passes ``keep=False`` so the sink only counts and costs the agent nothing extra.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

_RESPONSE = ExportMetricsServiceResponse().SerializeToString()


class OtlpSink:
    """Listens on 127.0.0.1 (``port=0``: a free port) until ``close()``; usable as a context manager."""

    def __init__(self, *, keep: bool = True, port: int = 0) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.received = 0
        self.status = 200  # a test sets e.g. 503 (collector overloaded) or 400 (data refused)
        self.response = _RESPONSE  # or a partial success
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = sink.status, sink.response
                if status != 200:
                    answer = b"refused by the test"
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                req = ExportMetricsServiceRequest.FromString(body) if keep else None
                with sink.lock:
                    sink.received += 1
                    if keep:
                        sink.headers.append({k.lower(): v for k, v in self.headers.items()})
                    if req is not None:
                        sink.requests.append(req)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-sink", daemon=True)
        self.thread.start()

    def points(self) -> list[tuple[str, dict, dict, float]]:
        """(metric name, resource attrs, point attrs, value) of every point received, in order."""
        out = []
        with self.lock:
            reqs = list(self.requests)
        for req in reqs:
            for rm in req.resource_metrics:
                res = {kv.key: _any(kv.value) for kv in rm.resource.attributes}
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        data = m.sum if m.HasField("sum") else m.gauge
                        for p in data.data_points:
                            attrs = {kv.key: _any(kv.value) for kv in p.attributes}
                            value = p.as_int if p.HasField("as_int") else p.as_double
                            out.append((m.name, res, attrs, value))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> OtlpSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _any(v):
    return getattr(v, v.WhichOneof("value"))
