"""The bearer token the session's collectors require (collector-config: bearertokenauth/otlp).
tests/conftest.py puts it in the environment at start, so every collector a test starts asks for
it and every agent a test starts sends it (OTEL_EXPORTER_OTLP_HEADERS), as on a real deployment."""

from __future__ import annotations

COLLECTOR_TOKEN = "collector-test-token-4c0ffee"
