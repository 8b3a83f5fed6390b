"""Metric names are defined once (jobpulse.agent.semconv) and imported everywhere else."""

from __future__ import annotations

import re

from jobpulse.agent import semconv

NAME = re.compile(r"""["']jobpulse\.(job|disk)\.[a-z_.]+["']""")


def test_python_code_never_retypes_a_metric_name(repo_root):
    offenders = []
    for folder in ("agent", "hub", "deploy", "bench"):
        for path in (repo_root / folder).rglob("*.py"):
            if path.name == "semconv.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if NAME.search(line):
                    offenders.append(f"{path.relative_to(repo_root)}:{number}: {line.strip()}")
    assert not offenders, "import metric names from jobpulse.agent.semconv:\n" + "\n".join(offenders)


def test_metric_names_follow_otel_conventions():
    for spec in semconv.ALL_METRICS:
        assert re.fullmatch(r"jobpulse\.(job|disk)\.[a-z_]+", spec.name), spec.name
        assert spec.unit in {"By", "By/s", "s", "%", "1"}, spec.name
        # OTel: no unit in the name, no _total suffix on counters.
        assert not spec.name.endswith(("_bytes", "_total", "_seconds")), spec.name


def test_no_namespace_init_shadows_the_jobpulse_namespace(repo_root):
    for folder in ("agent", "hub", "deploy"):
        assert not (repo_root / folder / "jobpulse" / "__init__.py").exists()
