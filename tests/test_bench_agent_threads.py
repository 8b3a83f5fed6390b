"""bench/agent_threads.py, which bench-agent's steady state counts telemetry's CPU with: a real
`jobpulse-agent copy` run through it, and its command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBPULSE_", "OTEL_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bench.agent_threads", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_each_thread_of_a_copy_is_counted_by_name(tmp_path):
    src = tmp_path / "disk0.img"
    src.write_bytes(os.urandom(1 << 20) * 48)
    out = tmp_path / "threads.json"
    (tmp_path / "dest").mkdir()
    p = _run(tmp_path, str(out), "copy", str(src), "--dest", str(tmp_path / "dest"), "--no-progress",
             "--no-telemetry", "--chunk-size", "4K")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "dest" / "disk0.img").read_bytes() == src.read_bytes()
    cpu = json.loads(out.read_text())
    # 12 288 chunks of 4 KiB read, written and counted: the copy thread's CPU, not the main thread's
    assert cpu["jobpulse-copy-0"] > 0.005, cpu
    assert set(cpu) >= {"MainThread", "jobpulse-copy-0"}
    assert all(v >= 0 for v in cpu.values())


def test_help_and_bad_use(tmp_path):
    p = _run(tmp_path, "--help")
    assert p.returncode == 0 and "OUT.json" in p.stdout
    p = _run(tmp_path)
    assert p.returncode == 2 and "OUT.json" in p.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing run
