"""Every `jobpulse-*` command answers --help (and each subcommand's --help) without side effects:
exit 0, text on stdout, no file created in the working directory or the run directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
SUBCOMMANDS = {"jobpulse-agent": [["copy"]], "jobpulse-grafana": [["apply"]]}


def _cases():
    for name in SCRIPTS:
        yield pytest.param(name, [], id=name)
        for sub in SUBCOMMANDS.get(name, []):
            yield pytest.param(name, sub, id=f"{name} {' '.join(sub)}")


@pytest.mark.parametrize(("script", "sub"), list(_cases()))
def test_help_has_no_side_effects(tmp_path, script, sub):
    program = Path(sys.executable).with_name(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPULSE_")}
    env["JOBPULSE_RUN_DIR"] = str(tmp_path / "run")
    work = tmp_path / "cwd"
    work.mkdir()
    p = subprocess.run([str(program), *sub, "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage:") and p.stderr == ""
    assert list(work.iterdir()) == [] and not (tmp_path / "run").exists()
