"""The alert rules' SQL on the real MariaDB (schema from the hub's migrations), with job rows placed at
chosen ages, so every boundary of the rules is checked deterministically: which jobs each rule yields,
which fire, and what a rule yields while the pipeline is not fresh. (test_stale_rules_e2e does the same
on a live pipeline with a killed agent; this one pins the edges.) The server runs at +03:00 and the
rules are evaluated through a SELECT-only account, as Grafana would.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobpulse.hub.migrations import upgrade

from . import grafana_files as gf
from .emulation.alerting import evaluate, firing_jobs
from .grafana_e2e import GrafanaMySQL, database_of

pytestmark = pytest.mark.e2e

RULES = {r["labels"]["rule"]: r for r in gf.rules()}


@pytest.fixture
def db(mysql_url, mariadb):
    upgrade(mysql_url)
    engine = sa.create_engine(mysql_url)
    yield engine, GrafanaMySQL(mariadb, database_of(mysql_url))
    engine.dispose()


def ago(seconds: float | None) -> str:
    return "NULL" if seconds is None else f"UTC_TIMESTAMP(6) - INTERVAL {int(seconds * 1e6)} MICROSECOND"


def add_job(conn, job_id, status="running", phase="transferring", silent=5.0, started=600.0,
            progressed=None, job_type="backup", machine="vm-1"):
    created = 600 if started is None else started + 1
    conn.execute(sa.text(
        "INSERT INTO jobs (id, job_type, machine, status, current_phase, bytes_transferred, total_bytes, "
        "transfer_speed_bps, progress_percent, created_at, started_at, last_telemetry_at, last_progress_at, "
        f"updated_at) VALUES (:id, :type, :machine, :status, :phase, 0, 100, 0, 0, {ago(created)}, "
        f"{ago(started)}, {ago(silent)}, {ago(progressed if progressed is not None else silent)}, "
        "UTC_TIMESTAMP(6))"), {"id": job_id, "type": job_type, "machine": machine, "status": status,
                               "phase": phase})


def set_pipeline(conn, reconciled=1.0, newest=1.0):
    conn.execute(sa.text("DELETE FROM pipeline_state"))
    conn.execute(sa.text(f"INSERT INTO pipeline_state (id, last_reconcile_at, newest_point_at, reconciler_id, "
                         f"updated_at) VALUES (1, {ago(reconciled)}, {ago(newest)}, 'test', UTC_TIMESTAMP(6))"))


def set_thresholds(conn, **values):
    conn.execute(sa.text("DELETE FROM settings"))
    for key, value in values.items():
        conn.execute(sa.text("INSERT INTO settings (`key`, `value`) VALUES (:k, :v)"), {"k": key, "v": str(value)})


def firing(grafana) -> dict[str, set[str]]:
    return {name: firing_jobs(evaluate(rule, grafana.query)) for name, rule in RULES.items()
            if name not in ("pipeline_down", "node_down")}


def rows(grafana, name) -> set[str]:
    return {i.labels["job_id"] for i in evaluate(RULES[name], grafana.query)}


def pipeline_down(grafana) -> bool:
    [instance] = evaluate(RULES["pipeline_down"], grafana.query)
    assert "job_id" not in instance.labels
    return instance.firing


def test_rule_windows_and_exclusions(db):
    engine, grafana = db
    with engine.begin() as conn:
        set_thresholds(conn, stalled_after_seconds=60, failed_after_seconds=300)
        set_pipeline(conn)
        add_job(conn, "fresh", silent=4)
        add_job(conn, "stalled-early", silent=61)
        add_job(conn, "stalled-marked", status="stalled", silent=200)
        add_job(conn, "gap", silent=295)           # after stalled's window, before failed_after
        add_job(conn, "failed-edge", silent=301)
        add_job(conn, "failed-marked", status="stalled", silent=4000)
        add_job(conn, "pending", status="pending", phase="pending", silent=None, started=None)
        add_job(conn, "first-interval", silent=None, started=3)
        add_job(conn, "young", silent=1, started=5)
        for terminal in ("completed", "failed", "cancelled"):
            add_job(conn, f"old-{terminal}", status=terminal, phase="done", silent=5000)
        add_job(conn, "stuck", silent=3, progressed=1000)
        add_job(conn, "long-snapshot", phase="snapshot", silent=3, progressed=1000)
        add_job(conn, "long-finalize", phase="finalizing", silent=3, progressed=1000)
        add_job(conn, "slow-but-moving", silent=3, progressed=100)
        add_job(conn, "silent-and-idle", silent=100, progressed=1000, machine="vm-2", job_type="restore")

    assert firing(grafana) == {
        "job_stalled": {"stalled-early", "stalled-marked", "silent-and-idle"},
        "job_failed": {"failed-edge", "failed-marked"},
        "job_stuck": {"stuck"},
        "job_late": set(),  # no job here has a deadline
        "job_slow": set(),  # nor a usual speed
    }
    monitored = {"fresh", "stalled-early", "stalled-marked", "gap", "failed-edge", "failed-marked", "stuck",
                 "long-snapshot", "long-finalize", "slow-but-moving", "silent-and-idle"}
    assert rows(grafana, "job_stalled") == monitored == rows(grafana, "job_failed")
    # stuck only looks at running jobs (a 'stalled' one is already reported as silent)
    assert rows(grafana, "job_stuck") == monitored - {"stalled-marked", "failed-marked"}
    [idle] = [i for i in evaluate(RULES["job_stalled"], grafana.query) if i.labels["job_id"] == "silent-and-idle"]
    assert idle.labels["job_type"] == "restore" and idle.labels["job_machine"] == "vm-2" and 99 <= idle.value <= 101
    assert not pipeline_down(grafana)


def test_thresholds_come_from_settings_with_the_seed_defaults(db):
    engine, grafana = db
    with engine.begin() as conn:
        set_pipeline(conn)
        add_job(conn, "a", silent=45)
        add_job(conn, "b", silent=100)
        set_thresholds(conn)  # none published: the seeds' 60 s / 300 s
    assert firing(grafana)["job_stalled"] == {"b"} and firing(grafana)["job_failed"] == set()
    with engine.begin() as conn:
        set_thresholds(conn, stalled_after_seconds=30, failed_after_seconds=90)
    assert firing(grafana)["job_stalled"] == {"a"} and firing(grafana)["job_failed"] == {"b"}


def test_no_job_is_ever_stalled_and_failed_at_once(db):
    """Sweep silence across failed_after: at every age at most one of the two rules fires."""
    engine, grafana = db
    ages = [s / 2 for s in range(2 * 270, 2 * 310)]
    with engine.begin() as conn:
        set_thresholds(conn, stalled_after_seconds=60, failed_after_seconds=300)
        set_pipeline(conn)
        for age in ages:
            add_job(conn, f"j{age}", silent=age, machine="vm")
    result = firing(grafana)
    assert not result["job_stalled"] & result["job_failed"]
    assert {f"j{a}" for a in ages if a < 290} == result["job_stalled"]
    assert {f"j{a}" for a in ages if a >= 300} == result["job_failed"]


def test_pipeline_not_fresh_silences_job_rules_and_pages_once(db):
    engine, grafana = db
    with engine.begin() as conn:
        set_thresholds(conn, stalled_after_seconds=60, failed_after_seconds=300)
        add_job(conn, "x", silent=400)
        add_job(conn, "y", silent=100)
        add_job(conn, "z", silent=3, progressed=5000)
        set_pipeline(conn, reconciled=31, newest=1)  # the reconciler stopped 31 s ago
    assert pipeline_down(grafana)
    for name in ("job_stalled", "job_failed", "job_stuck"):
        assert rows(grafana, name) == set()

    with engine.begin() as conn:  # reconciling, but no point from any of 3 running jobs for 31 s
        conn.execute(sa.text("DELETE FROM jobs"))
        for job_id in ("p", "q", "r"):
            add_job(conn, job_id, silent=31)
        set_pipeline(conn, reconciled=1, newest=31)
    assert pipeline_down(grafana)
    assert rows(grafana, "job_stalled") == set()

    with engine.begin() as conn:  # one of them still reports: the others are individually silent
        add_job(conn, "s", silent=2)
        conn.execute(sa.text(f"UPDATE jobs SET last_telemetry_at = {ago(70)}"
                             " WHERE id IN ('p', 'q', 'r')"))
        set_pipeline(conn, reconciled=1, newest=2)
    assert not pipeline_down(grafana)
    assert firing(grafana)["job_stalled"] == {"p", "q", "r"}

    with engine.begin() as conn:  # a single running job: its silence is its own, not the pipeline's
        conn.execute(sa.text("DELETE FROM jobs"))
        add_job(conn, "alone", silent=70)
        set_pipeline(conn, reconciled=1, newest=70)
    assert not pipeline_down(grafana)
    assert firing(grafana)["job_stalled"] == {"alone"}


def test_pipeline_down_when_the_hub_never_ran(db):
    engine, grafana = db
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM pipeline_state"))
    assert pipeline_down(grafana)
    assert rows(grafana, "job_stalled") == set()


def add_node(conn, node_id, silent):
    conn.execute(sa.text(f"INSERT INTO nodes (node_id, cpu_percent, last_seen_at, updated_at) VALUES "
                         f"(:id, 5, {ago(silent)}, UTC_TIMESTAMP(6))"), {"id": node_id})


def nodes_down(grafana) -> dict[str, bool]:
    return {i.labels["node"]: i.firing for i in evaluate(RULES["node_down"], grafana.query)}


def test_node_down_window_and_pipeline_guard(db):
    engine, grafana = db
    with engine.begin() as conn:
        set_thresholds(conn, node_down_after_seconds=120)
        set_pipeline(conn)
        add_node(conn, "fresh", 3)
        add_node(conn, "edge", 119)
        add_node(conn, "down", 121)
        add_node(conn, "it's \"odd\"\n/[.*]", 300)  # hostile names stay data
        add_node(conn, "gone", 2 * 86400)  # not seen for two days: no longer monitored
    assert nodes_down(grafana) == {"fresh": False, "edge": False, "down": True, "it's \"odd\"\n/[.*]": True}
    with engine.begin() as conn:
        set_pipeline(conn, reconciled=120)  # the hub stopped reconciling: nothing pages as node_down
    assert nodes_down(grafana) == {}
    with engine.begin() as conn:
        set_pipeline(conn)
        conn.execute(sa.text(f"UPDATE nodes SET last_seen_at = {ago(200)}"))  # every node silent at once
    assert nodes_down(grafana) == {}, "all nodes silent together is the pipeline, paged as pipeline_down"
    with engine.begin() as conn:
        set_thresholds(conn)  # the seed's default when the hub has not published one: 120 s
        conn.execute(sa.text("DELETE FROM nodes"))
        add_node(conn, "alone", 130)
    assert nodes_down(grafana) == {"alone": True}


def add_warned_job(conn, job_id, *, status="running", phase="transferring", deadline=3600.0, past_for=None,
                   latest_in=7200.0, ratio=None, below_for=None):
    """A reporting job with a deadline (``deadline`` s from now; None: none), its pessimistic prediction
    ``latest_in`` s from now, its late condition held for ``past_for`` s and its slow one for ``below_for``."""
    add_job(conn, job_id, status=status, phase=phase)

    def at(seconds):
        return "NULL" if seconds is None else f"UTC_TIMESTAMP(6) + INTERVAL {int(seconds * 1e6)} MICROSECOND"

    conn.execute(sa.text(
        f"UPDATE jobs SET deadline = {at(deadline)}, predicted_completion_latest_at = {at(latest_in)}, "
        f"past_deadline_since = {ago(past_for)}, speed_vs_usual = :ratio, below_usual_since = {ago(below_for)} "
        "WHERE id = :id"), {"id": job_id, "ratio": ratio})


@pytest.mark.early_warning
def test_late_and_slow_windows(db):
    engine, grafana = db
    with engine.begin() as conn:
        set_thresholds(conn, stalled_after_seconds=60, late_after_seconds=120, slow_after_seconds=600,
                       slow_speed_ratio=0.5)
        set_pipeline(conn)
        add_warned_job(conn, "on-time")
        add_warned_job(conn, "late", past_for=121, latest_in=4500, deadline=3600)
        add_warned_job(conn, "late-young", past_for=100)
        add_warned_job(conn, "no-deadline", deadline=None, past_for=500)
        add_warned_job(conn, "late-stalled", status="stalled", past_for=500)
        add_warned_job(conn, "late-done", status="completed", phase="done", past_for=500)
        add_warned_job(conn, "slow", ratio=0.1, below_for=601)
        add_warned_job(conn, "slow-young", ratio=0.1, below_for=590)
        add_warned_job(conn, "slow-snapshot", phase="snapshot", ratio=0.1, below_for=900)
        add_warned_job(conn, "usual", ratio=0.9, below_for=None)
        add_warned_job(conn, "unknown-usual", ratio=None, below_for=900)
    assert firing(grafana)["job_late"] == {"late"}
    assert firing(grafana)["job_slow"] == {"slow"}
    [late] = [i for i in evaluate(RULES["job_late"], grafana.query) if i.labels["job_id"] == "late"]
    assert 895 <= late.value <= 905, "the value is how far past the deadline the job is predicted to end"
    assert late.labels["rule"] == "job_late" and late.labels["severity"] == "warning"
    assert rows(grafana, "job_late") == {"on-time", "late", "late-young", "slow", "slow-young", "slow-snapshot",
                                         "usual", "unknown-usual"}
    assert rows(grafana, "job_slow") == {"slow", "slow-young", "slow-snapshot", "usual"}
    with engine.begin() as conn:  # shortened thresholds come from the hub's settings
        set_thresholds(conn, stalled_after_seconds=60, late_after_seconds=60, slow_after_seconds=60,
                       slow_speed_ratio=0.05)
    assert firing(grafana)["job_late"] == {"late", "late-young"}
    assert firing(grafana)["job_slow"] == set()
    with engine.begin() as conn:  # a pipeline that is not fresh silences them like every per-job rule
        set_pipeline(conn, reconciled=120)
    assert rows(grafana, "job_late") == set() == rows(grafana, "job_slow")
