"""jobpulse agent: progress of long multi-disk jobs as OpenTelemetry metrics.

    from jobpulse.agent import configure, Phase

    telemetry = configure()                      # OTLP per OTEL_EXPORTER_OTLP_* variables
    with telemetry.start_job("backup", "vm-1", disks=[size0, size1]) as job:
        job.set_phase(Phase.TRANSFERRING)
        job.advance(0, len(chunk))               # hot path: no OpenTelemetry call
    telemetry.shutdown()                         # bounded final flush

Metric names, units and codes live in :mod:`jobpulse.semconv`.
"""

from ._errors import ConfigurationError, InvalidDeadline, InvalidJobId, JobpulseError
from ._exporter import SpoolingMetricExporter
from ._job import Job
from ._sender import GrpcSender, HttpSender, SendResult
from ._records import DiskSnapshot, JobSnapshot
from ._speed import SpeedEstimator
from ._spool import Spool
from ._telemetry import Telemetry, configure, resolve_job_id, start_job
from jobpulse.semconv import DiskStatus, JobType, Phase, Status

__all__ = [
    "ConfigurationError",
    "DiskSnapshot",
    "DiskStatus",
    "GrpcSender",
    "HttpSender",
    "InvalidDeadline",
    "InvalidJobId",
    "Job",
    "JobSnapshot",
    "JobType",
    "JobpulseError",
    "Phase",
    "SendResult",
    "SpeedEstimator",
    "Spool",
    "SpoolingMetricExporter",
    "Status",
    "Telemetry",
    "configure",
    "resolve_job_id",
    "start_job",
]
