"""The secrets the test suite uses, and a search of every log it writes for them: a token or a
password is never logged, whatever a test did with it (the hub's, the agents', the collector's,
InfluxDB's and MariaDB's logs alike)."""

from __future__ import annotations

import importlib
from pathlib import Path

# (module, constant): each a credential some test presents, right or wrong.
_SOURCES = (
    ("tests.hub._helpers", "TOKEN"), ("tests.hub._helpers", "WEBHOOK_PASSWORD"),
    ("tests.hub.test_access", "READ_TOKEN"), ("tests.hub.test_access", "WRITE_TOKEN"),
    ("tests.hub.test_access", "OLD_WRITE_TOKEN"), ("tests.nodes.conftest", "TOKEN"),
    ("tests.grafana.grafana_e2e", "API_TOKEN"), ("tests.adapters.conftest", "TOKEN"),
    ("tests.support.otlp", "COLLECTOR_TOKEN"),
)


def secrets() -> dict[str, str]:
    found = {}
    for module, name in _SOURCES:
        try:
            value = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        found[f"{module}.{name}"] = value
    return found


def leaks(root: Path, known: dict[str, str]) -> list[str]:
    """``path: secret name`` for every log under ``root`` that contains one of ``known``."""
    out = []
    for path in sorted(root.rglob("*.log")) if root.is_dir() else ():
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        out += [f"{path}: {name}" for name, value in known.items() if value and value in text]
    return out
