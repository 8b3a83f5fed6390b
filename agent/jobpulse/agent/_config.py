"""Settings resolved as argument > environment variable > default."""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from urllib.parse import unquote

from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from jobpulse.semconv import ATTR_HOST_NAME, ATTR_SERVICE_INSTANCE_ID, ENV_NODE_NAME

from ._errors import ConfigurationError

_logger = logging.getLogger(__name__)

SERVICE_INSTANCE_ID = ATTR_SERVICE_INSTANCE_ID
# One per process: every Telemetry of the process is the same sender.
_PROCESS_INSTANCE_ID = str(uuid.uuid4())

# The SDK waits the interval after each export ends: 4.5 s keeps points at most 5 s apart.
DEFAULT_EXPORT_INTERVAL_MS = 4500.0
MAX_EXPORT_INTERVAL_MS = 5000.0  # the hub calls a job stalled after 60 s; 5 s keeps 12 chances
DEFAULT_SERVICE_NAME = "jobpulse-agent"
PROTOCOLS = ("grpc", "http/protobuf")
DEFAULT_PROTOCOL = "http/protobuf"

_warned_clamp = False


def export_interval_ms(argument: float | None = None) -> float:
    """Export interval in ms: argument > OTEL_METRIC_EXPORT_INTERVAL > 4500, never above 5000."""
    global _warned_clamp
    value, source = argument, "argument"
    if value is None:
        raw = os.environ.get("OTEL_METRIC_EXPORT_INTERVAL")
        source = "OTEL_METRIC_EXPORT_INTERVAL"
        try:
            value = float(raw) if raw else DEFAULT_EXPORT_INTERVAL_MS
        except ValueError:
            raise ConfigurationError(f"OTEL_METRIC_EXPORT_INTERVAL={raw!r} is not a number of milliseconds") from None
    if not value > 0 or math.isnan(value):
        raise ConfigurationError(f"export interval must be a positive number of milliseconds, not {value!r}")
    if value > MAX_EXPORT_INTERVAL_MS:
        if not _warned_clamp:
            _warned_clamp = True
            _logger.warning(
                "export interval %g ms (%s) is longer than %g ms: using %g ms so jobs never look stale",
                value, source, MAX_EXPORT_INTERVAL_MS, MAX_EXPORT_INTERVAL_MS,
            )
        value = MAX_EXPORT_INTERVAL_MS
    return value


def protocol(argument: str | None = None) -> str:
    raw = (
        argument
        or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_PROTOCOL
    ).strip().lower()
    if raw not in PROTOCOLS:
        raise ConfigurationError(f"OTLP protocol {raw!r} is not supported: use one of {', '.join(PROTOCOLS)}")
    return raw


def resource(service_name: str | None = None) -> Resource:
    """OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (the SDK reads them), default service name ours."""
    res = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    if str(res.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        res = res.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    if ATTR_HOST_NAME not in res.attributes:
        # The node the job runs on, named as the node collector names it.
        res = res.merge(Resource({ATTR_HOST_NAME: os.environ.get(ENV_NODE_NAME) or socket.gethostname()}))
    if not res.attributes.get(SERVICE_INSTANCE_ID):
        # This process's identity as a sender: the hub refuses a job's points from any other one.
        # Set service.instance.id in OTEL_RESOURCE_ATTRIBUTES to keep it across a restart (takeover).
        res = res.merge(Resource({SERVICE_INSTANCE_ID: _PROCESS_INSTANCE_ID}))
    return res


def _env(*names: str) -> str | None:
    """The first of the signal-specific and generic OTLP variables that is set."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def http_endpoint(argument: str | None = None) -> str:
    """Where OTLP/HTTP posts: argument > OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (as is) >
    OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics > http://localhost:4318/v1/metrics (the OTLP spec's rule)."""
    if argument:
        return argument
    specific = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    if specific:
        return specific
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
    return base.rstrip("/") + "/v1/metrics"


def grpc_endpoint(argument: str | None = None) -> str:
    return argument or _env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4317"


def headers(argument: dict[str, str] | None = None) -> dict[str, str]:
    """argument > OTEL_EXPORTER_OTLP_METRICS_HEADERS > OTEL_EXPORTER_OTLP_HEADERS, as ``k=v,k2=v2``
    with URL-encoded values (the OTLP spec's format)."""
    if argument is not None:
        return dict(argument)
    raw = _env("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
    out: dict[str, str] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            # the value may be a credential: name the variable, not its content
            raise ConfigurationError("OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas")
        out[unquote(key.strip()).lower()] = unquote(value.strip())
    return out


DEFAULT_TIMEOUT_S = 10.0


def timeout_s(argument: float | None = None) -> float:
    """Seconds one export may take: argument > OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT (milliseconds,
    as the OTLP spec says) > 10 s."""
    if argument is not None:
        value = float(argument)
    else:
        raw = _env("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        try:
            value = float(raw) / 1000.0 if raw else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ConfigurationError(f"OTEL_EXPORTER_OTLP_TIMEOUT={raw!r} is not a number of milliseconds") from None
    if not value > 0 or math.isnan(value):
        raise ConfigurationError(f"OTLP export timeout must be positive, not {value!r} s")
    return value


COMPRESSIONS = ("none", "gzip")


def compression(argument: str | None = None) -> str:
    raw = (argument or _env("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
           or "none").strip().lower()
    if raw not in COMPRESSIONS:
        raise ConfigurationError(f"OTLP compression {raw!r} is not supported: use one of {', '.join(COMPRESSIONS)}")
    return raw


def certificate(argument: str | None = None) -> str | None:
    """A CA bundle (PEM) to trust for https endpoints; None: the system's."""
    return argument or _env("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")


def grpc_insecure(endpoint: str) -> bool:
    """Plain-text gRPC: an http:// endpoint, or no scheme and OTEL_EXPORTER_OTLP_[METRICS_]INSECURE=true."""
    if endpoint.startswith("http://"):
        return True
    if endpoint.startswith("https://"):
        return False
    raw = _env("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE") or "false"
    return raw.strip().lower() == "true"
