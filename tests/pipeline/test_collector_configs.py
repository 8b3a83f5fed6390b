"""Every collector config we ship passes the built collector's own `validate`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("config", ["otelcol-influxdb1.yaml", "otelcol-influxdb2.yaml", "otelcol-influxdb3.yaml", "otelcol-node.yaml"])
def test_shipped_config_validates(collector, repo_root, config):
    result = collector.validate(repo_root / "collector-config" / config)
    assert result.returncode == 0, result.stderr


def test_validate_rejects_a_broken_config(collector, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("receivers:\n  otlp: {}\nservice:\n  pipelines:\n    metrics:\n"
                      "      receivers: [otlp]\n      exporters: [influxdb]\n")
    result = collector.validate(broken)
    assert result.returncode != 0
    assert "no exporter configuration" in result.stderr


def test_manifest_uses_only_pinned_contrib_components(repo_root):
    import yaml
    manifest = yaml.safe_load((repo_root / "collector-config" / "manifest.yaml").read_text())
    modules = [entry["gomod"] for kind in ("receivers", "processors", "exporters", "extensions")
               for entry in manifest[kind]]
    names = sorted(module.split()[0].rsplit("/", 1)[1] for module in modules)
    assert names == ["batchprocessor", "bearertokenauthextension", "debugexporter", "filestorage", "healthcheckextension",
                     "hostmetricsreceiver", "influxdbexporter", "memorylimiterprocessor",
                     "metricstransformprocessor", "otlphttpexporter", "otlpreceiver", "resourceprocessor"]
    versions = {module.split()[1] for module in modules}
    assert len(versions) == 1, f"components must be pinned to one release: {versions}"
    # Only helper modules the proxy refuses at the pinned release are replaced, by the one before.
    for replace in manifest.get("replaces") or []:
        assert replace.split(" => ")[1].endswith(" v0.160.0"), replace
