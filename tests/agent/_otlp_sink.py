"""A real OTLP/HTTP receiver for tests and the benchmark: decodes every ExportMetricsServiceRequest."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)


class OtlpSink:
    def __init__(self, keep: bool = True, port: int = 0) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if keep:
                    req = ExportMetricsServiceRequest.FromString(body)
                    with sink.lock:
                        sink.requests.append(req)
                out = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

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


def _any(v):
    return getattr(v, v.WhichOneof("value"))
