"""deploy/influxdb2/build.sh as set-up meets it: a cached binary of the pinned version skips the build;
a missing tool fails with one line naming the step."""

from __future__ import annotations

import subprocess

from jobpulse.stack import repo_root

SCRIPT = repo_root() / "deploy" / "influxdb2" / "build.sh"


def _build(cache, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT)], env={"PATH": path, "HOME": str(cache),
                                                           "JOBPULSE_CACHE_DIR": str(cache)},
                          capture_output=True, text=True, timeout=60)


def test_a_cached_binary_of_the_pinned_version_is_not_rebuilt(tmp_path):
    binary = tmp_path / "influxdb2" / "bin" / "influxd-2.7.12"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    p = _build(tmp_path, "/usr/bin:/bin")  # no Go, no cargo: nothing may be needed
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(binary)
    assert p.stderr.strip() == f"influxdb2: InfluxDB 2.7.12 up to date ({binary})"


def test_a_missing_tool_is_one_line_naming_the_step(tmp_path):
    p = _build(tmp_path, "/usr/bin:/bin")
    assert p.returncode == 1 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith("influxdb2: building InfluxDB 2.7.12 from Go modules: a few minutes the first time")
    assert lines[-1] == (f"influxdb2: build failed at: finding go on PATH (Go, a Rust toolchain and a C compiler "
                         f"are needed) (log: {tmp_path}/influxdb2/build.log)")
    assert not (tmp_path / "influxdb2" / "bin" / "influxd-2.7.12").exists()
