"""Senders: one encoded OTLP export request to the collector, one attempt, a plain verdict.

The agent owns this transport instead of reaching into the SDK's exporters: a batch
is encoded once and the same bytes go out live or, after an outage, from the spool.
A sender never retries: the next export is at most 5 s away and carries the newest
cumulative values, and failed batches wait in the spool. It never raises either; what
went wrong comes back as a :class:`SendResult` in a few plain words.
"""

from __future__ import annotations

import gzip
import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from . import _config
from ._errors import ConfigurationError
from ._http import ConnectionLost, Http11Connection

_logger = logging.getLogger("jobpulse.agent")

# OTLP/HTTP: these answers mean "try again later" (the OTLP specification's retryable codes),
# 401/403 mean the credentials are wrong: kept too, so fixing them sends what waited.
_HTTP_KEEP = {401, 403, 408, 429, 502, 503, 504}
_GRPC_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


@dataclass(frozen=True)
class SendResult:
    """What became of one export request."""

    ok: bool
    reason: str = ""  # why not, for the operator: "connection refused", "HTTP 503"
    keep: bool = True  # worth keeping and sending again; False: the collector refused the data itself


SENT = SendResult(True)


class Sender(Protocol):
    endpoint: str

    def send(self, body: bytes, timeout: float) -> SendResult: ...

    def shutdown(self, timeout: float) -> None: ...


def _refused_points(content: bytes) -> str:
    """The collector's partial-success message, if it dropped points of an accepted request."""
    try:
        resp = ExportMetricsServiceResponse.FromString(content)
    except Exception:  # a proxy's HTML body: the request was still accepted
        return ""
    rejected = resp.partial_success.rejected_data_points
    return f"{rejected} points rejected: {resp.partial_success.error_message}" if rejected else ""


class OnceLog:
    """What repeats every export (a partial success, a refused batch) is logged the first time
    for each message: the operator needs to hear it once, not every 5 s."""

    def __init__(self, template: str) -> None:
        self._template = template  # % (endpoint, message)
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # the reader thread and the final flush may both report

    def note(self, endpoint: str, message: str) -> None:
        with self._lock:
            if message in self._seen:
                return
            self._seen.add(message)
        _logger.warning(self._template, endpoint, message)


_REJECTED = "the collector at %s accepted a batch but %s"


def _host_field(host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host
    return f"{name}:{port}" if port else name


def _request_head(path: str, fields: dict[str, str]) -> bytes:
    """The request line and header fields of every export, built once. A CR, LF or NUL in
    a name or value (OTEL_EXPORTER_OTLP_HEADERS) would split the request: refused here."""
    lines = [f"POST {path} HTTP/1.1"]
    for name, value in fields.items():
        if any(c in f"{name}{value}" for c in "\r\n\0") or not name or ":" in name:
            raise ConfigurationError(f"OTLP header {name!r} is not a valid HTTP header field")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigurationError("an OTLP header holds characters HTTP/1.1 cannot carry (latin-1 only)") from None


class HttpSender:
    """OTLP/HTTP (protobuf) over one keep-alive connection (jobpulse.agent._http).

    Not httpx or requests: importing either costs a short job more than all its exports
    (``make bench-agent``, fixed cost per job); not http.client, whose header parsing cost
    every export more than its encoding. HTTP proxies are not used: the collector runs on the
    node or next to it.
    """

    def __init__(self, endpoint: str | None = None, *, headers: dict[str, str] | None = None,
                 timeout: float | None = None, compression: str | None = None,
                 certificate: str | None = None) -> None:
        self.endpoint = _config.http_endpoint(endpoint)
        self.timeout = _config.timeout_s(timeout)
        url = urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigurationError(f"OTLP endpoint {self.endpoint!r} is not an http:// or https:// URL")
        try:
            self._port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            raise ConfigurationError(f"OTLP endpoint {self.endpoint!r} has an invalid port") from None
        self._host = url.hostname
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._tls = None
        if url.scheme == "https":
            cert = _config.certificate(certificate)
            try:
                self._tls = ssl.create_default_context(cafile=cert)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(f"OTLP certificate {cert!r} is unusable: {exc}") from exc
        self._gzip = _config.compression(compression) == "gzip"
        fields = {"Host": _host_field(self._host, url.port), "Content-Type": "application/x-protobuf",
                  "User-Agent": "jobpulse-agent", **_config.headers(headers)}
        if self._gzip:
            fields["Content-Encoding"] = "gzip"
        self._head = _request_head(self._path, fields)
        # One export at a time comes from the flusher, but shutdown may close the
        # connection from another thread: the swap of the connection object is guarded.
        self._lock = threading.Lock()
        self._conn: Http11Connection | None = None
        self._closed = False
        self._rejections = OnceLog(_REJECTED)

    def _connection(self) -> Http11Connection:
        with self._lock:
            if self._closed:
                raise ConnectionError("the sender was shut down")
            if self._conn is None:
                self._conn = Http11Connection(self._host, self._port, self._tls)
            return self._conn

    def _drop(self, conn) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    def send(self, body: bytes, timeout: float) -> SendResult:
        data = gzip.compress(body, compresslevel=1) if self._gzip else body
        timeout = min(timeout, self.timeout)
        for attempt in (1, 2):
            try:
                conn = self._connection()
            except ConnectionError as exc:
                return SendResult(False, str(exc))
            try:
                answer = conn.post(self._head, data, timeout)
            except (ConnectionLost, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(conn)
                if attempt == 1:
                    continue  # the collector closed an idle keep-alive connection: once more, on a new one
                return SendResult(False, f"connection lost ({type(exc).__name__})")
            except TimeoutError:
                self._drop(conn)
                return SendResult(False, "timed out")
            except ConnectionRefusedError:
                self._drop(conn)
                return SendResult(False, "connection refused")
            except OSError as exc:
                self._drop(conn)
                return SendResult(False, f"{type(exc).__name__}: {exc}"[:160])
            return self._verdict(answer.status, answer.body)
        return SendResult(False, "connection lost")  # pragma: no cover - the loop returns

    def _verdict(self, status: int, content: bytes) -> SendResult:
        if status == 200:
            message = _refused_points(content)
            if message:
                self._rejections.note(self.endpoint, message)
            return SENT
        reason = f"HTTP {status}"
        text = content.decode("utf-8", "replace").strip()
        if status in (401, 403):
            reason += " (the collector refused the agent's credentials)"
        elif text:
            reason += f": {text.splitlines()[0][:120]}"
        return SendResult(False, reason, keep=status in _HTTP_KEEP or status >= 500)

    def shutdown(self, timeout: float = 1.0) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class GrpcSender:
    """OTLP/gRPC: the encoded request goes out as it is (the method's serializer is the identity)."""

    def __init__(self, endpoint: str | None = None, *, headers: dict[str, str] | None = None,
                 timeout: float | None = None, compression: str | None = None,
                 certificate: str | None = None) -> None:
        import grpc  # only agents that chose gRPC pay for importing it

        self._grpc = grpc
        self.endpoint = _config.grpc_endpoint(endpoint)
        self.timeout = _config.timeout_s(timeout)
        target = self.endpoint.split("://", 1)[-1].rstrip("/")
        if _config.grpc_insecure(self.endpoint):
            self._channel = grpc.insecure_channel(target)
        else:
            cert = _config.certificate(certificate)
            try:
                root = Path(cert).read_bytes() if cert else None
            except OSError as exc:
                raise ConfigurationError(f"OTLP certificate {cert!r} is unusable: {exc}") from exc
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root))
        self._metadata = tuple(_config.headers(headers).items()) or None
        self._compression = grpc.Compression.Gzip if _config.compression(compression) == "gzip" else None
        self._export = self._channel.unary_unary(
            _GRPC_METHOD, request_serializer=None, response_deserializer=None,
        )
        self._rejections = OnceLog(_REJECTED)
        # the OTLP specification's retryable codes, and the credential codes (kept, as for HTTP)
        codes = grpc.StatusCode
        self._keep = {codes.CANCELLED, codes.DEADLINE_EXCEEDED, codes.ABORTED, codes.OUT_OF_RANGE,
                      codes.UNAVAILABLE, codes.DATA_LOSS, codes.RESOURCE_EXHAUSTED,
                      codes.UNAUTHENTICATED, codes.PERMISSION_DENIED}

    def send(self, body: bytes, timeout: float) -> SendResult:
        try:
            content = self._export(body, timeout=min(timeout, self.timeout), metadata=self._metadata,
                                   compression=self._compression)
        except self._grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code is self._grpc.StatusCode.UNAVAILABLE:
                return SendResult(False, "unavailable")
            if code is self._grpc.StatusCode.DEADLINE_EXCEEDED:
                return SendResult(False, "timed out")
            name = code.name if code is not None else "error"
            details = exc.details() if hasattr(exc, "details") else ""
            return SendResult(False, f"gRPC {name}: {details}"[:160], keep=code in self._keep)
        except ValueError as exc:  # the channel was closed by shutdown
            return SendResult(False, str(exc)[:160])
        message = _refused_points(content or b"")
        if message:
            self._rejections.note(self.endpoint, message)
        return SENT

    def shutdown(self, timeout: float = 1.0) -> None:
        self._channel.close()


def otlp_sender(protocol: str | None = None, endpoint: str | None = None, *,
                headers: dict[str, str] | None = None, timeout: float | None = None) -> Sender:
    """The sender of the configured protocol: argument > OTEL_EXPORTER_OTLP_* > http/protobuf on localhost."""
    if _config.protocol(protocol) == "grpc":
        return GrpcSender(endpoint, headers=headers, timeout=timeout)
    return HttpSender(endpoint, headers=headers, timeout=timeout)
