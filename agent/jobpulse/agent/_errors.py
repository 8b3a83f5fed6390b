"""The agent's one exception tree: everything it raises on purpose derives from JobpulseError."""

from __future__ import annotations


class JobpulseError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigurationError(JobpulseError):
    """A setting (argument or environment variable) has a value the agent cannot use."""


class InvalidJobId(ConfigurationError):
    """A job id the hub could not address (jobpulse.semconv.job_id_problem says why)."""


class InvalidDeadline(ConfigurationError):
    """A deadline that is not a time, has already passed, or lies more than 366 days ahead."""
