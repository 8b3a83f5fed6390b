"""A self-signed certificate for 127.0.0.1, made by Debian's openssl for one test (never committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) PEM files valid for a day, the certificate its own CA."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert, key
