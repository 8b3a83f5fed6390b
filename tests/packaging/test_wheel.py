"""The wheel as a backup host and a hub host install it, each in a fresh virtualenv.

``pip install jobpulse`` must bring the agent and its CLI only; the hub is an extra, and
its packages work without the agent's OpenTelemetry packages.
"""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

HINT = "pip install 'jobpulse[hub]'"


def _run(argv, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, env=env, **kw)


def _ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"{p.args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def wheel(repo_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _ok(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, repo_root]))
    (built,) = out.glob("jobpulse-*.whl")
    return built


def _venv(path: Path) -> Path:
    # The base interpreter, not this venv's: nothing of the dev environment leaks in.
    _ok(_run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", path]))
    return path / "bin"


def _requirements(wheel: Path) -> list[tuple[str, str]]:
    """(requirement, marker) of every Requires-Dist line of the wheel's metadata."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(name))
    return [(spec.strip(), marker.replace("'", '"'))
            for spec, _, marker in (req.partition(";") for req in meta.get_all("Requires-Dist") or ())]


def _extra_requirements(wheel: Path, extra: str) -> list[str]:
    return [spec for spec, marker in _requirements(wheel) if f'extra == "{extra}"' in marker]


def test_plain_install_is_the_agent_only(wheel, tmp_path):
    bin_ = _venv(tmp_path / "agent-host")
    _ok(_run([bin_ / "pip", "install", "-q", wheel]))
    installed = {line.split("==")[0].lower() for line in _ok(_run([bin_ / "pip", "freeze"])).stdout.split()}
    assert {"opentelemetry-sdk", "opentelemetry-proto"} <= installed
    # the SDK's own exporters (and their requests/googleapis stacks) are not the agent's
    assert not installed & {"opentelemetry-exporter-otlp-proto-http", "requests", "httpx"}, installed
    assert not installed & {"fastapi", "sqlalchemy", "alembic", "uvicorn", "pymysql", "grafana-client",
                            "influxdb-client", "pydantic"}, installed

    assert "copy" in _ok(_run([bin_ / "jobpulse-agent", "--help"])).stdout
    src = tmp_path / "disk0.img"
    src.write_bytes(os.urandom(3 * 65536 + 17))
    dest = tmp_path / "out"
    dest.mkdir()
    p = _ok(_run([bin_ / "jobpulse-agent", "copy", src, "--dest", dest, "--no-telemetry", "--no-progress",
                  "--summary-json"]))
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["bytes_transferred"] == src.stat().st_size
    assert (dest / src.name).read_bytes() == src.read_bytes()

    p = _run([bin_ / "python", "-c", "import jobpulse.hub"])
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ") and HINT in last, p.stderr
    p = _run([bin_ / "jobpulse-hub", "--help"])
    assert p.returncode != 0 and HINT in p.stderr.strip().splitlines()[-1], p.stderr


def test_hub_extra_works_without_the_agents_packages(wheel, tmp_path):
    bin_ = _venv(tmp_path / "hub-host")
    _ok(_run([bin_ / "pip", "install", "-q", "--no-deps", wheel]))
    _ok(_run([bin_ / "pip", "install", "-q", *_extra_requirements(wheel, "hub")]))
    installed = {line.split("==")[0].lower() for line in _ok(_run([bin_ / "pip", "freeze"])).stdout.split()}
    # FastAPI (0.165) itself requires opentelemetry-api; the agent's SDK and exporter stay out.
    assert not installed & {"opentelemetry-sdk", "opentelemetry-proto"}, installed
    probe = "import sys, jobpulse.hub, jobpulse.hub.main; print(sorted(m for m in sys.modules if m.startswith('jobpulse')))"
    loaded = _ok(_run([bin_ / "python", "-c", probe])).stdout
    assert "jobpulse.semconv" in loaded and "jobpulse.agent" not in loaded
    help_text = _ok(_run([bin_ / "jobpulse-hub", "--help"], cwd=tmp_path)).stdout
    assert "JOBPULSE_" in help_text
    assert not (tmp_path / ".run").exists()  # --help migrated nothing


def _lower_bounds(wheel: Path) -> list[str]:
    """``name==X`` for every opentelemetry requirement of the plain install, at its ``>=X``."""
    pins = []
    for spec, marker in _requirements(wheel):
        if "extra ==" in marker or not spec.startswith("opentelemetry"):
            continue
        name = re.match(r"[A-Za-z0-9_.-]+", spec).group(0)
        low = re.search(r">=\s*([0-9][0-9.]*)", spec).group(1)
        pins.append(f"{name}=={low}")
    return pins


def test_the_agent_works_at_its_lowest_supported_sdk(wheel, tmp_path):
    from tests.support.otlp_sink import OtlpSink

    bin_ = _venv(tmp_path / "old-sdk")
    pins = _lower_bounds(wheel)
    assert "opentelemetry-sdk==1.27" in pins, pins
    _ok(_run([bin_ / "pip", "install", "-q", wheel, *pins]))
    installed = {line.lower() for line in _ok(_run([bin_ / "pip", "freeze"])).stdout.split()}
    assert "opentelemetry-sdk==1.27.0" in installed, installed
    src = tmp_path / "disk0.img"
    src.write_bytes(os.urandom(65536 * 5 + 3))
    dest = tmp_path / "out"
    dest.mkdir()
    with OtlpSink() as sink:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "JOBPULSE_SPOOL_DIR": str(tmp_path / "spool"),
               "PATH": os.environ.get("PATH", "")}
        p = subprocess.run([str(bin_ / "jobpulse-agent"), "copy", str(src), "--dest", str(dest), "--no-progress",
                            "--job-id", "old-sdk-1", "--summary-json"], capture_output=True, text=True,
                           timeout=120, env=env)
        assert p.returncode == 0, p.stderr
        points = sink.points()
    done = [v for n, _, a, v in points if n == "jobpulse.job.transferred" and a.get("job.id") == "old-sdk-1"]
    assert done and done[-1] == src.stat().st_size
