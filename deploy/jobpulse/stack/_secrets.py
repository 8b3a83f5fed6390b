"""Local credentials: from the environment, else generated once into the git-ignored run folder."""

from __future__ import annotations

import os
from pathlib import Path


def local_secret(env_var: str, secret_file: Path) -> str:
    configured = os.environ.get(env_var)
    if configured:
        return configured
    if secret_file.exists():
        return secret_file.read_text().strip()
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    value = os.urandom(12).hex()
    secret_file.write_text(value + "\n")
    secret_file.chmod(0o600)
    return value
