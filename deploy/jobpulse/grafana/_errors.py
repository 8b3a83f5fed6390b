"""The one exception tree of `jobpulse-grafana`: every failure the command can report in one line."""

from __future__ import annotations


class ProvisioningError(Exception):
    """Base: provisioning could not be completed. str() is a one-line message for the CLI."""


class FilesError(ProvisioningError):
    """A provisioning file is missing, unreadable, malformed or refers to an unset environment variable."""


class GrafanaError(ProvisioningError):
    """Grafana answered, but not with what we asked for."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GrafanaAuthError(GrafanaError):
    """Grafana refused our credentials (401/403)."""


class GrafanaUnreachable(ProvisioningError):
    """Grafana could not be reached at all (connection refused, DNS, timeout)."""
