"""Early warning through the API, on SQLite and MariaDB: deadlines on registration and on the
legacy payload (and what is refused), the prediction and speed against usual on a running job,
and the webhook's late/slow marks (a flag and since-when, never a status)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from jobpulse import semconv
from tests.grafana import grafana_files as gf
from tests.grafana.emulation import webhook

from ._helpers import AUTH, WEBHOOK_PASSWORD, WEBHOOK_USER, utcnow

pytestmark = pytest.mark.early_warning

RULES = {rule["labels"][semconv.ALERT_LABEL_RULE]: rule for rule in gf.rules()}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text_: str) -> datetime:
    return datetime.fromisoformat(text_.replace("Z", ""))


@pytest.fixture
def api(api):
    api.engine = create_engine(api.db_url)
    yield api
    api.engine.dispose()


def register(api, job_id, machine="vm-1", **extra):
    return api.post("/api/v1/jobs", headers=AUTH, json={"id": job_id, "job_type": "backup", "machine": machine,
                                                         "disks": [{"disk_index": 0, "size_bytes": 1000}]} | extra)


def legacy(api, job_id, **body):
    return api.post(f"/api/v1/telemetry/backup/{job_id}", headers=AUTH, json=body)


def completed_history(api, machine, speeds):
    """Jobs of ``machine`` that completed earlier, at these whole-job average speeds."""
    with api.engine.begin() as conn:
        for i, speed in enumerate(speeds):
            t = utcnow() - timedelta(hours=len(speeds) - i)
            conn.execute(text(
                "INSERT INTO jobs (id, job_type, machine, status, current_phase, bytes_transferred, total_bytes, "
                "transfer_speed_bps, progress_percent, average_speed_bps, created_at, started_at, completed_at, "
                "updated_at, late, slow) VALUES (:id, 'backup', :m, 'completed', 'done', 1, 1, 0, 100, :s, :t, :t, "
                ":t, :t, false, false)"), {"id": f"{machine}-old-{i}", "m": machine, "s": speed, "t": t})


def test_a_registered_deadline_is_shown(api):
    deadline = utcnow().replace(microsecond=0) + timedelta(hours=2)
    r = register(api, "ew-1", deadline=iso(deadline))
    assert r.status_code == 201, r.text
    job = api.get("/api/v1/jobs/ew-1").json()
    assert parse(job["deadline"]) == deadline
    assert job["predicted_completion_at"] is None and job["speed_vs_usual"] is None
    assert job["late"] is False and job["slow"] is False


@pytest.mark.parametrize("deadline, problem", [
    (lambda now: iso(now - timedelta(minutes=1)), "in the past"),
    (lambda now: iso(now + timedelta(days=400)), "more than 366 days ahead"),
    (lambda now: "1999-12-31T23:00:00Z", "before the year 2000"),
    (lambda now: "tomorrow", "RFC 3339"),
    (lambda now: 1767225600, "RFC 3339"),
])
def test_hostile_deadlines_on_registration_are_clear_4xx(api, deadline, problem):
    r = register(api, "ew-bad", deadline=deadline(utcnow()))
    assert r.status_code == 422 and problem in r.text, r.text
    assert api.get("/api/v1/jobs/ew-bad").status_code == 404, "nothing stored"


def test_legacy_deadline_may_be_past_but_not_absurd(api):
    assert register(api, "ew-2").status_code == 201
    past = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    assert legacy(api, "ew-2", status="running", current_phase="transferring", bytes_transferred=10,
                  total_bytes=1000, transfer_speed_bps=10, deadline=iso(past)).status_code == 204
    job = api.get("/api/v1/jobs/ew-2").json()
    assert parse(job["deadline"]) == past
    assert job["past_deadline_since"] is not None, "running past its deadline: late at once"
    r = legacy(api, "ew-2", deadline=iso(utcnow() + timedelta(days=3000)))
    assert r.status_code == 400 and "366 days" in r.json()["detail"]
    assert parse(api.get("/api/v1/jobs/ew-2").json()["deadline"]) == past, "the refused post changed nothing"


def test_running_job_shows_prediction_and_speed_against_usual(api):
    completed_history(api, "vm-u", [100, 200, 300, 400, 500])  # median 300 B/s
    completed_history(api, "vm-other", [10, 10, 10])
    deadline = utcnow() + timedelta(hours=1)
    assert register(api, "ew-3", machine="vm-u", deadline=iso(deadline)).status_code == 201
    t = utcnow().replace(microsecond=0)
    assert legacy(api, "ew-3", status="running", current_phase="transferring", bytes_transferred=400,
                  total_bytes=1000, transfer_speed_bps=30, timestamp=iso(t)).status_code == 204
    job = api.get("/api/v1/jobs/ew-3").json()
    assert job["usual_speed_bps"] == 300 and job["speed_vs_usual"] == 0.1
    assert parse(job["predicted_completion_at"]) == t + timedelta(seconds=20)  # 600 B left at 30 B/s
    assert parse(job["predicted_completion_latest_at"]) >= parse(job["predicted_completion_at"])
    assert job["below_usual_since"] is not None and job["past_deadline_since"] is None
    assert job["status"] == "running"


def test_fewer_than_three_known_jobs_give_no_usual_speed(api):
    completed_history(api, "vm-new", [100, 200])
    assert register(api, "ew-4", machine="vm-new").status_code == 201
    assert legacy(api, "ew-4", status="running", current_phase="transferring", bytes_transferred=1,
                  total_bytes=1000, transfer_speed_bps=30).status_code == 204
    job = api.get("/api/v1/jobs/ew-4").json()
    assert job["usual_speed_bps"] is None and job["speed_vs_usual"] is None


def warning_alert(rule, job_id, status="firing", starts_at="2026-12-03T10:00:00Z"):
    spec = RULES[rule]
    labels = {semconv.ALERT_LABEL_JOB_ID: job_id, semconv.ALERT_LABEL_JOB_TYPE: "backup",
              semconv.ALERT_LABEL_MACHINE: "vm-1"}
    return webhook.alert(spec["labels"], spec["title"], labels, status=status, starts_at=starts_at,
                         values={"A": 600.0, "B": 600.0, "C": 1.0})


@pytest.mark.parametrize("rule, flag", [("job_late", "late"), ("job_slow", "slow")])
def test_the_webhook_marks_and_clears_warnings_without_a_status_change(api, rule, flag):
    assert register(api, "ew-5").status_code == 201
    assert legacy(api, "ew-5", status="running", current_phase="transferring", bytes_transferred=1,
                  total_bytes=1000).status_code == 204
    auth = (WEBHOOK_USER, WEBHOOK_PASSWORD)
    r = api.post("/api/v1/alerts/grafana", auth=auth, json=webhook.payload(warning_alert(rule, "ew-5")))
    assert r.status_code == 200 and r.json()["applied"] == 1, r.text
    assert r.json()["outcomes"][0]["action"] == flag
    job = api.get("/api/v1/jobs/ew-5").json()
    assert job[flag] is True and job[f"{flag}_since"] == "2026-12-03T10:00:00Z" and job["status"] == "running"
    r = api.post("/api/v1/alerts/grafana", auth=auth,
                 json=webhook.payload(warning_alert(rule, "ew-5", status="resolved")))
    assert r.json()["applied"] == 1, r.text
    job = api.get("/api/v1/jobs/ew-5").json()
    assert job[flag] is False and job[f"{flag}_since"] is None and job["status"] == "running"
    r = api.post("/api/v1/alerts/grafana", auth=auth, json=webhook.payload(warning_alert(rule, "nope")))
    assert r.json()["outcomes"][0]["reason"] == "unknown job"
