"""Metric names are defined once (jobpulse.semconv) and imported everywhere else."""

from __future__ import annotations

import re
import subprocess
import sys

from jobpulse import semconv

NAME = re.compile(r"""["']jobpulse\.(job|disk)\.[a-z_.]+["']""")


def test_python_code_never_retypes_a_metric_name(repo_root):
    offenders = []
    for folder in ("agent", "hub", "deploy", "bench"):
        for path in (repo_root / folder).rglob("*.py"):
            if "semconv" in path.relative_to(repo_root).parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if NAME.search(line):
                    offenders.append(f"{path.relative_to(repo_root)}:{number}: {line.strip()}")
    assert not offenders, "import metric names from jobpulse.semconv:\n" + "\n".join(offenders)


def test_metric_names_follow_otel_conventions():
    for spec in semconv.ALL_METRICS:
        assert re.fullmatch(r"jobpulse\.(job|disk)\.[a-z_]+", spec.name), spec.name
        assert spec.unit in {"By", "By/s", "s", "%", "1"}, spec.name
        # OTel: no unit in the name, no _total suffix on counters.
        assert not spec.name.endswith(("_bytes", "_total", "_seconds")), spec.name


def test_no_namespace_init_shadows_the_jobpulse_namespace(repo_root):
    for folder in ("agent", "hub", "deploy"):
        assert not (repo_root / folder / "jobpulse" / "__init__.py").exists()


def test_semconv_is_a_stdlib_leaf():
    probe = (
        "import sys, jobpulse.semconv;"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('opentelemetry', 'pydantic', 'jobpulse'))}),"
        " sorted(m for m in sys.modules if m.startswith('jobpulse.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split("] ")[0] + "]" == "['jobpulse']", out
    assert "jobpulse.agent" not in out and "jobpulse.hub" not in out, out


def test_semconv_public_names_are_pinned():
    assert semconv.__all__ == sorted(semconv.__all__)
    assert semconv.__all__ == [
        "ALERT_LABEL_JOB_ID", "ALERT_LABEL_JOB_TYPE", "ALERT_LABEL_MACHINE", "ALERT_LABEL_NODE",
        "ALERT_LABEL_RULE", "ALL_METRICS", "ATTR_DEVICE", "ATTR_DIRECTION", "ATTR_DISK_INDEX",
        "ATTR_ERROR_MESSAGE", "ATTR_HOST_NAME", "ATTR_JOB_ID", "ATTR_JOB_TYPE", "ATTR_MACHINE",
        "ATTR_MOUNTPOINT", "ATTR_SERVICE_INSTANCE_ID", "ATTR_STATE", "DISK_ATTRIBUTES", "DISK_METRICS", "DISK_STATUS", "DISK_TOTAL",
        "DISK_TRANSFERRED", "DiskStatus", "ENV_JOB_ID", "ENV_NODE_NAME", "ERROR_MESSAGE_MAX", "FIELD_COUNTER",
        "FIELD_GAUGE", "ID_MAX", "JOB_ATTRIBUTES", "JOB_AVERAGE_SPEED", "JOB_DEADLINE", "JOB_DURATION", "JOB_ERROR", "JOB_ETA",
        "JOB_LAST_PROGRESS", "JOB_METRICS", "JOB_PHASE", "JOB_PROGRESS", "JOB_SPEED", "JOB_STATUS",
        "JOB_TOTAL", "JOB_TRANSFERRED", "JobType", "METRICS_BY_NAME", "MetricSpec", "NODE_CONNECTIONS",
        "NODE_CPU", "NODE_DISK_IO", "NODE_FILESYSTEM", "NODE_FIXED_SERIES", "NODE_LOAD_15M", "NODE_LOAD_1M",
        "NODE_LOAD_5M", "NODE_MEMORY_LIMIT", "NODE_MEMORY_USAGE", "NODE_METRICS", "NODE_METRICS_BY_NAME",
        "NODE_NETWORK_IO", "NODE_POINT_ATTRIBUTES", "NODE_PROCESSES", "NODE_UPTIME", "OBSERVABLE_COUNTER",
        "OBSERVABLE_GAUGE", "Phase", "RULE_JOB_FAILED", "RULE_JOB_LATE", "RULE_JOB_SLOW", "RULE_JOB_STALLED", "RULE_JOB_STUCK",
        "RULE_NODE_DOWN", "RULE_PIPELINE_DOWN", "SCOPE_NAME", "Status", "TAG_SCOPE_NAME", "TAG_SCOPE_VERSION",
        "TERMINAL_STATUSES", "job_id_problem", "node_id_problem", "series_per_job", "series_per_node",
    ]
    for name in semconv.__all__:
        assert getattr(semconv, name) is not None


def test_project_dependencies_are_the_agents_only(repo_root):
    import tomllib

    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert names == {"opentelemetry-api", "opentelemetry-sdk", "opentelemetry-proto", "grpcio"}
    assert {"hub", "grafana", "test"} <= set(project["optional-dependencies"])
    # influxdb-client is the stack's (InfluxDB 2 set-up), declared where it is imported and nowhere else.
    holders = {extra for extra, ds in project["optional-dependencies"].items() if any("influxdb-client" in d for d in ds)}
    assert holders == {"stack"}
    users = {p.name for p in (repo_root / "deploy").rglob("*.py") if "import influxdb_client" in p.read_text()
             or "from influxdb_client" in p.read_text()}
    assert users == {"_influxdb2.py"}
