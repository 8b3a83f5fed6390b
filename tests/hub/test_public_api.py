"""The hub's public names are pinned: removing or renaming one is a breaking change."""

import ast
from pathlib import Path

import jobpulse.hub
import jobpulse.hub.influx
import jobpulse.hub.reconciler
import jobpulse.hub.state
import jobpulse.hub.store
from jobpulse.hub.migrations import upgrade

HUB = Path(jobpulse.hub.__file__).parent


def test_hub_all():
    assert sorted(jobpulse.hub.__all__) == [
        "AuthError", "Conflict", "DatabaseUnavailable", "Forbidden", "HubError", "InfluxUnavailable",
        "InvalidInput", "NotFound", "Settings", "TooManyFailures", "Unavailable", "WritesDisabled", "create_app",
        "main",
    ]
    for name in jobpulse.hub.__all__:
        assert getattr(jobpulse.hub, name) is not None


def test_domain_packages_all():
    assert jobpulse.hub.reconciler.__all__ == ["CycleResult", "Reconciler"]
    assert jobpulse.hub.store.__all__ == [
        "Change", "CycleCommit", "JobFilter", "PipelineStatus", "Store", "StoredJob", "StoredNode",
        "Thresholds",
    ]
    assert jobpulse.hub.state.__all__ == [
        "COMPLETED", "DISK_FIELDS", "FAILED", "HORIZON", "JOB_FIELDS", "LATE", "NODE_FIELDS", "PENDING",
        "RUNNING", "SLOW", "SNAPSHOT_FIELDS", "STALE_MESSAGE", "STALLED", "STATUSES", "TERMINAL",
        "USUAL_MIN_JOBS", "DiskObservation", "DiskState", "JobState", "NodeObservation", "NodeSnapshot",
        "NodeState", "Observation", "StaleDecision", "apply_node_observation", "apply_observation", "choose_sender", "forecast",
        "format_silence", "is_late", "mark_stale", "mark_warning", "new_job", "pct", "seconds_to_completion",
        "take_over", "usual_speed",
    ]
    assert jobpulse.hub.influx.__all__ == [
        "NODE_SERIES_QUANTITIES", "InfluxClient", "InfluxConnectionError", "InfluxError",
        "InfluxQueryError", "InfluxResponseError", "InfluxTimeoutError", "SeriesLine", "cycle_query", "grouped_window_query", "last_per_series_query",
        "naive_query", "narrowed_cycle_query",
        "node_series_query", "parse_cycle_result", "parse_node_result", "parse_probe_result", "parse_series",
        "parse_step", "probe_query", "quote_ident", "quote_literal", "series_aggregate", "series_query", "snapshot_lines", "time_literal",
    ]
    for package in (jobpulse.hub.reconciler, jobpulse.hub.store, jobpulse.hub.state, jobpulse.hub.influx):
        for name in package.__all__:
            assert getattr(package, name) is not None


def _package_of(path: Path, folder: Path) -> str:
    """The dotted package a file belongs to (``tests.hub`` for tests/hub/x.py)."""
    parts = path.relative_to(folder).parent.parts
    return ".".join(parts if folder.name in ("agent", "hub", "deploy") else (folder.name,) + parts)


def _imports(path: Path, package: str):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            yield base, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_nothing_imports_another_packages_private_modules():
    """A package's ``_private`` modules are its own: the rest of the code, bench/ and the
    tests go through its public names. Only a package's own white-box tests
    (tests/<name>/ for ``jobpulse.<name>``) may reach inside it."""
    root = HUB.parent.parent.parent
    offenders = []
    for name in ("agent", "hub", "deploy", "bench", "tests"):
        folder = root / name
        for path in folder.rglob("*.py"):
            package = _package_of(path, folder)
            for base, names in _imports(path, package):
                if not base.startswith("jobpulse."):
                    continue
                for target in [base] + [f"{base}.{n}" for n in names]:
                    parts = target.split(".")
                    private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")]
                    if not private:
                        continue
                    owner = ".".join(parts[: private[0]])
                    white_box = package.split(".")[:2] == ["tests", owner.rsplit(".", 1)[-1]]
                    if owner != package and not white_box:
                        offenders.append(f"{path.relative_to(root)}: {target}")
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_the_hub_never_imports_the_agent():
    for path in HUB.rglob("*.py"):
        for base, _ in _imports(path, _package_of(path, HUB.parent.parent)):
            assert not base.startswith("jobpulse.agent"), path


def test_error_tree_maps_to_http_statuses():
    h = jobpulse.hub
    assert [e.status_code for e in (h.InvalidInput, h.AuthError, h.NotFound, h.Conflict, h.WritesDisabled,
                                    h.DatabaseUnavailable, h.InfluxUnavailable)] == [400, 401, 404, 409, 503, 503, 503]
    assert issubclass(h.DatabaseUnavailable, h.Unavailable) and issubclass(h.Unavailable, h.HubError)
    assert h.DatabaseUnavailable("x").detail == "database unavailable: x"


def test_settings_env_names(monkeypatch, tmp_path):
    monkeypatch.setenv("JOBPULSE_RECONCILE_INTERVAL", "7")
    monkeypatch.setenv("JOBPULSE_AUTO_REGISTER", "false")
    monkeypatch.setenv("JOBPULSE_STALLED_AFTER", "61")
    monkeypatch.chdir(tmp_path)
    s = jobpulse.hub.Settings()
    assert (s.reconcile_interval, s.auto_register, s.stalled_after, s.failed_after) == (7, False, 61, 300)
    assert s.database_url == f"sqlite:///{tmp_path.as_posix()}/.run/jobpulse-hub.sqlite3"
    assert (s.host, s.port, s.influx_url, s.influx_db) == ("127.0.0.1", 8000, "http://127.0.0.1:8086", "jobpulse")
    # argument beats environment
    assert jobpulse.hub.Settings(reconcile_interval=3).reconcile_interval == 3


def test_upgrade_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path.as_posix()}/x.sqlite3"
    upgrade(url)
    upgrade(url)
