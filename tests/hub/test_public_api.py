"""The hub's public names are pinned: removing or renaming one is a breaking change."""

import jobpulse.hub
import jobpulse.hub.reconciler
from jobpulse.hub.migrations import upgrade


def test_hub_all():
    assert sorted(jobpulse.hub.__all__) == [
        "AuthError", "Conflict", "DatabaseUnavailable", "HubError", "InfluxUnavailable", "InvalidInput",
        "NotFound", "Settings", "Unavailable", "WritesDisabled", "create_app", "run",
    ]
    for name in jobpulse.hub.__all__:
        assert getattr(jobpulse.hub, name) is not None


def test_reconciler_all():
    assert sorted(jobpulse.hub.reconciler.__all__) == [
        "CycleResult", "DiskObservation", "DiskState", "InfluxClient", "InfluxConnectionError", "InfluxError",
        "InfluxQueryError", "InfluxResponseError", "JobState", "Observation", "Reconciler", "StaleDecision",
        "apply_observation", "format_silence", "make_influx", "mark_stale",
    ]


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
