"""HttpSender's own HTTP/1.1 exchange against a server that answers as scripted, byte for byte:
what a collector, a proxy in front of it, or something that is not HTTP at all may send back."""

import logging
import socket
import threading
import time

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)

from jobpulse.agent import ConfigurationError, HttpSender

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"


class ScriptedServer:
    """Answers the n-th request on any connection with ``answers[n]`` (bytes, or None to close
    the connection without answering, or "hang" to answer nothing); records each request."""

    def __init__(self, answers, close_after=()):
        self.answers = list(answers)
        self.close_after = set(close_after)  # request numbers after which the server hangs up
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1/metrics"
        self._done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._done.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rb") as f:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = f.readline()
                    if not line:
                        return
                    head += line
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.requests.append(head + f.read(length))
                n = len(self.requests) - 1
                answer = self.answers[min(n, len(self.answers) - 1)]
                if answer is None:
                    return
                if answer == "hang":
                    self._done.wait(30)
                    return
                conn.sendall(answer)
                if n in self.close_after:
                    return

    def close(self):
        self._done.set()
        self.listener.close()


@pytest.fixture
def serve():
    servers = []

    def make(answers, close_after=()):
        servers.append(ScriptedServer(answers, close_after))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_exports_share_one_keep_alive_connection(serve):
    server = serve([OK])
    sender = HttpSender(server.url)
    assert all(sender.send(b"batch", 5).ok for _ in range(3))
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/metrics HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.url.split(':')[2].split('/')[0]}".encode() in first
    assert first.endswith(b"Content-Length: 5\r\n\r\nbatch")


def test_a_keep_alive_connection_the_collector_dropped_is_replaced_and_the_batch_sent(serve):
    server = serve([OK], close_after={0})  # hangs up after the first answer, as an idle timeout does
    sender = HttpSender(server.url)
    assert sender.send(b"one", 5).ok
    time.sleep(0.1)
    assert sender.send(b"two", 5).ok
    assert server.connections == 2
    assert server.requests[-1].endswith(b"two")


def test_an_answer_that_closes_the_connection_is_read_and_the_next_export_reconnects(serve):
    server = serve([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", OK], close_after={0})
    sender = HttpSender(server.url)
    assert sender.send(b"one", 5).ok  # no Content-Length: the body ends with the connection
    assert sender.send(b"two", 5).ok
    assert server.connections == 2


def test_a_chunked_partial_success_is_read_and_reported(serve, caplog):
    caplog.set_level(logging.WARNING)
    body = ExportMetricsServiceResponse(partial_success=ExportMetricsPartialSuccess(
        rejected_data_points=3, error_message="bad unit")).SerializeToString()
    half = len(body) // 2
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n%s\r\n" % (half, body[:half]) + b"%x;ext=1\r\n%s\r\n" % (len(body) - half, body[half:])
               + b"0\r\nX-Trailer: 1\r\n\r\n")
    server = serve([b"HTTP/1.1 100 Continue\r\n\r\n" + chunked, OK])
    sender = HttpSender(server.url)
    assert sender.send(b"one", 5).ok
    assert sender.send(b"two", 5).ok  # the whole chunked answer was consumed: the next one frames
    assert server.connections == 1
    assert "3 points rejected: bad unit" in caplog.text


@pytest.mark.parametrize("answer, reason", [
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP/1.x answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ended after 5 of 10 bytes"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", "is not an OTLP answer"),
])
def test_what_is_not_an_http_answer_fails_the_send_in_plain_words(serve, answer, reason):
    server = serve([answer, OK], close_after={0})
    sender = HttpSender(server.url)
    result = sender.send(b"one", 5)
    assert not result.ok and result.keep and reason in result.reason
    assert sender.send(b"two", 5).ok  # on a new connection
    assert server.connections == 2


def test_an_error_answer_keeps_the_batch_with_its_reason(serve):
    server = serve([b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\noverload\n"])
    result = HttpSender(server.url).send(b"one", 5)
    assert (result.ok, result.keep, result.reason) == (False, True, "HTTP 503: overload")


def test_shutdown_cuts_a_send_the_collector_never_answers(serve):
    server = serve(["hang"])
    sender = HttpSender(server.url)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", sender.send(b"one", 20)))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.3)
    sender.shutdown(1.0)
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 3
    assert not out["r"].ok


@pytest.mark.parametrize("headers", ["x-token=a\r\nX-Evil: 1", "x-token=caf\u00e9\u20ac"])
def test_a_header_that_would_split_or_cannot_be_sent_is_refused(monkeypatch, headers):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", headers)
    with pytest.raises(ConfigurationError):
        HttpSender("http://127.0.0.1:4318/v1/metrics")
