import jobpulse.agent as agent


def test_public_api_is_pinned():
    assert agent.__all__ == [
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
    for name in agent.__all__:
        assert getattr(agent, name) is not None
