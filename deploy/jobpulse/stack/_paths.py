"""Where the repository and the stack's data live."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout this package runs from (editable install), else the current directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "collector-config").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


def run_dir() -> Path:
    """The git-ignored folder holding every server's data: JOBPULSE_RUN_DIR or <repo>/.run."""
    configured = os.environ.get("JOBPULSE_RUN_DIR")
    return Path(configured).resolve() if configured else repo_root() / ".run"
