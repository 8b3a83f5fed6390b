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

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from . import _config
from ._errors import ConfigurationError

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


class _RejectionLog:
    """Partial successes repeat every export; the operator needs the first of each kind."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # the reader thread and the final flush may both report

    def note(self, endpoint: str, message: str) -> None:
        with self._lock:
            if message in self._seen:
                return
            self._seen.add(message)
        _logger.warning("the collector at %s accepted a batch but %s", endpoint, message)


class HttpSender:
    """OTLP/HTTP (protobuf) over one keep-alive httpx client.

    ``transport`` is httpx's own seam: tests may hand in ``httpx.MockTransport``.
    """

    def __init__(self, endpoint: str | None = None, *, headers: dict[str, str] | None = None,
                 timeout: float | None = None, compression: str | None = None,
                 certificate: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.endpoint = _config.http_endpoint(endpoint)
        self.timeout = _config.timeout_s(timeout)
        self._gzip = _config.compression(compression) == "gzip"
        base = {"Content-Type": "application/x-protobuf", "User-Agent": "jobpulse-agent"}
        if self._gzip:
            base["Content-Encoding"] = "gzip"
        cert = _config.certificate(certificate)
        try:
            self._client = httpx.Client(
                headers={**base, **_config.headers(headers)}, timeout=self.timeout, transport=transport,
                verify=cert or True,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"OTLP certificate {cert!r} is unusable: {exc}") from exc
        self._rejections = _RejectionLog()

    def send(self, body: bytes, timeout: float) -> SendResult:
        data = gzip.compress(body, compresslevel=1) if self._gzip else body
        try:
            resp = self._client.post(self.endpoint, content=data, timeout=min(timeout, self.timeout))
        except httpx.TimeoutException:
            return SendResult(False, "timed out")
        except httpx.ConnectError as exc:
            return SendResult(False, "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})")
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed by shutdown
            return SendResult(False, f"{type(exc).__name__}: {exc}"[:160])
        if resp.status_code == 200:
            message = _refused_points(resp.content)
            if message:
                self._rejections.note(self.endpoint, message)
            return SENT
        reason = f"HTTP {resp.status_code}"
        if resp.status_code in (401, 403):
            reason += " (the collector refused the agent's credentials)"
        elif resp.text.strip():
            reason += f": {resp.text.strip().splitlines()[0][:120]}"
        return SendResult(False, reason, keep=resp.status_code in _HTTP_KEEP or resp.status_code >= 500)

    def shutdown(self, timeout: float = 1.0) -> None:
        self._client.close()


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
        self._rejections = _RejectionLog()
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
