"""Grafana's webhook contact point -> stalled / failed, guarded by pipeline freshness."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from jobpulse import semconv
from tests.grafana import grafana_files as gf
from tests.grafana.emulation import webhook

from ._helpers import AUTH, WEBHOOK_PASSWORD, WEBHOOK_USER, register, utcnow

HOOK = "/api/v1/alerts/grafana"


RULES = {rule["labels"][semconv.ALERT_LABEL_RULE]: rule for rule in gf.rules()}


def grafana_payload(*alerts, status=None):
    """A notification exactly as Grafana's webhook contact point sends it (tests.grafana.emulation)."""
    return webhook.payload(*alerts, status=status)


def alert(rule, job_id=None, status="firing", state_reason=None):
    """An alert of one of alerts/rules.yaml's rules, with the labels its query and the rule give it."""
    spec = RULES[rule]
    query_labels = {}
    if job_id is not None:
        query_labels = {semconv.ALERT_LABEL_JOB_ID: job_id, semconv.ALERT_LABEL_JOB_TYPE: "backup",
                        semconv.ALERT_LABEL_MACHINE: "vm-1"}
    return webhook.alert(spec["labels"], spec["title"], query_labels, status=status,
                         values={"A": 312.0, "B": 312.0, "C": 1.0}, state_reason=state_reason,
                         annotations={"summary": f"rendered summary of {rule}"})


@pytest.fixture
def api(api):
    """The shared ``api`` client plus an engine of its own to set rows up directly."""
    api.engine = create_engine(api.db_url)
    yield api
    api.engine.dispose()


def set_row(api, job_id, **values):
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with api.engine.begin() as conn:
        conn.execute(text(f"UPDATE jobs SET {sets} WHERE id = :id"), values | {"id": job_id})


def fresh_pipeline(api, age=1.0):
    with api.engine.begin() as conn:
        conn.execute(text("UPDATE pipeline_state SET last_reconcile_at = :t WHERE id = 1"),
                     {"t": utcnow() - timedelta(seconds=age)})


def hook(api, payload, auth=(WEBHOOK_USER, WEBHOOK_PASSWORD)):
    return api.post(HOOK, json=payload, auth=auth)


def running_job(api, job_id, silent_for):
    register(api, job_id)
    set_row(api, job_id, status="running", last_telemetry_at=utcnow() - timedelta(seconds=silent_for))


def test_stalled_then_failed(api):
    fresh_pipeline(api)
    running_job(api, "j1", silent_for=312)
    r = hook(api, grafana_payload(alert("job_stalled", "j1")))
    assert r.status_code == 200 and r.json()["applied"] == 1
    assert api.get("/api/v1/jobs/j1").json()["status"] == "stalled"
    r = hook(api, grafana_payload(alert("job_failed", "j1")))
    assert r.json()["applied"] == 1
    got = api.get("/api/v1/jobs/j1").json()
    assert got["status"] == "failed"
    assert got["error_message"].startswith("Job stalled - no telemetry for 5m1")
    assert got["completed_at"] is not None


def test_terminal_and_pending_jobs_are_never_moved(api):
    fresh_pipeline(api)
    register(api, "pending-job")
    running_job(api, "done-job", silent_for=400)
    set_row(api, "done-job", status="completed")
    r = hook(api, grafana_payload(alert("job_stalled", "pending-job"), alert("job_failed", "done-job")))
    body = r.json()
    assert body["applied"] == 0 and body["refused"] == 2
    assert api.get("/api/v1/jobs/pending-job").json()["status"] == "pending"
    assert api.get("/api/v1/jobs/done-job").json()["status"] == "completed"


def test_refused_while_the_pipeline_is_not_fresh(api):
    fresh_pipeline(api, age=120)  # the reconciler stopped two minutes ago
    running_job(api, "j2", silent_for=400)
    body = hook(api, grafana_payload(alert("job_stalled", "j2"), alert("job_failed", "j2"))).json()
    assert body["pipeline_fresh"] is False and body["applied"] == 0 and body["refused"] == 2
    assert "pipeline not fresh" in body["outcomes"][0]["reason"]
    assert api.get("/api/v1/jobs/j2").json()["status"] == "running"


def test_pipeline_down_alert_holds_stale_transitions_until_resolved(api):
    fresh_pipeline(api)
    running_job(api, "j3", silent_for=400)
    hook(api, grafana_payload(alert("pipeline_down")))
    assert api.get("/api/v1/pipeline").json()["fresh"] is False
    assert hook(api, grafana_payload(alert("job_failed", "j3"))).json()["applied"] == 0
    # resolved because its series went missing: not a recovery
    hook(api, grafana_payload(alert("pipeline_down", status="resolved", state_reason="MissingSeries"),
                              status="resolved"))
    assert api.get("/api/v1/pipeline").json()["fresh"] is False
    hook(api, grafana_payload(alert("pipeline_down", status="resolved"), status="resolved"))
    assert api.get("/api/v1/pipeline").json()["fresh"] is True
    assert hook(api, grafana_payload(alert("job_failed", "j3"))).json()["applied"] == 1


def test_alerts_without_job_id_and_resolved_alerts_change_nothing(api):
    fresh_pipeline(api)
    running_job(api, "j4", silent_for=90)
    set_row(api, "j4", status="stalled")
    nodata = alert("job_stalled", state_reason="NoData")
    err = alert("job_failed", state_reason="Error")
    missing = alert("job_stalled", "j4", status="resolved", state_reason="MissingSeries")
    resolved = alert("job_stalled", "j4", status="resolved")
    body = hook(api, grafana_payload(nodata, err, missing, resolved)).json()
    assert body["received"] == 4 and body["applied"] == 0 and body["ignored"] == 4
    assert api.get("/api/v1/jobs/j4").json()["status"] == "stalled"  # only telemetry recovers it


def test_recent_telemetry_refuses_a_late_alert(api):
    fresh_pipeline(api)
    running_job(api, "j5", silent_for=5)
    assert hook(api, grafana_payload(alert("job_stalled", "j5"))).json()["applied"] == 0
    assert api.get("/api/v1/jobs/j5").json()["status"] == "running"


@pytest.mark.parametrize("auth", [None, ("grafana", "wrong"), ("nobody", WEBHOOK_PASSWORD)])
def test_webhook_requires_basic_auth(api, auth):
    r = api.post(HOOK, json=grafana_payload(), auth=auth)
    assert r.status_code == 401


def test_bearer_token_is_not_accepted_for_the_webhook(api):
    assert api.post(HOOK, json=grafana_payload(), headers=AUTH).status_code == 401


def test_webhook_disabled_without_credentials(client_factory, sqlite_url):
    c = client_factory(sqlite_url, webhook_user=None, webhook_password=None)
    r = c.post(HOOK, json=grafana_payload(), auth=(WEBHOOK_USER, WEBHOOK_PASSWORD))
    assert r.status_code == 503 and "JOBPULSE_WEBHOOK_USER" in r.json()["detail"]


@pytest.mark.parametrize("version", [(11, 0), (12, 0)], ids=["grafana-11", "grafana-12"])
def test_payload_of_each_grafana_line_with_null_values(api, version):
    """Values come as null when one is NaN, 12.x adds a per-alert orgId, firing endsAt is zero."""
    fresh_pipeline(api)
    running_job(api, "j6", silent_for=320)
    spec = RULES["job_stalled"]
    one = webhook.alert(spec["labels"], spec["title"], {semconv.ALERT_LABEL_JOB_ID: "j6"},
                        values={"A": float("nan"), "B": 320.0}, version=version)
    assert one["values"] is None and one["endsAt"] == webhook.ZERO_TIME
    assert ("orgId" in one) == (version >= (12, 0))
    body = hook(api, grafana_payload(one)).json()
    assert body["applied"] == 1
    assert api.get("/api/v1/jobs/j6").json()["status"] == "stalled"
