"""Grafana's webhook contact point: stale-job alerts become job state.

Labels read from each alert: ``rule`` (job_stalled, job_failed, job_stuck, pipeline_down)
and the job's ``job_id`` (``job.id`` accepted too). Firing job_stalled -> stalled, firing
job_failed -> failed ("Job stalled - no telemetry for 5m12s"), both refused while the
pipeline is not fresh. Resolved alerts never change a job: recovery comes only from
telemetry (so a series that went missing - grafana_state_reason=MissingSeries - or a
DatasourceNoData/DatasourceError alert without a job id can never "recover" a job).

job_late and job_slow are warnings: firing sets the job's ``late``/``slow`` flag and its
since-when (the alert's startsAt), resolved clears it; the status never changes, and a
finished job's flags stay as they were when it ended.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter

from jobpulse.hub.api.deps import SettingsDep, StoreDep, WebhookAccess
from jobpulse.hub.schemas import AlertOutcome, GrafanaAlert, GrafanaWebhook, WebhookResult
from jobpulse.hub.core.clock import to_naive_utc, utcnow
from jobpulse.hub.state import FAILED, LATE, SLOW, STALLED
from jobpulse.semconv import (
    ALERT_LABEL_JOB_ID,
    ALERT_LABEL_RULE,
    ATTR_JOB_ID,
    RULE_JOB_FAILED,
    RULE_JOB_LATE,
    RULE_JOB_SLOW,
    RULE_JOB_STALLED,
    RULE_PIPELINE_DOWN,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])

_JOB_ID_LABELS = (ALERT_LABEL_JOB_ID, ATTR_JOB_ID)
_WARNINGS = {RULE_JOB_LATE: LATE, RULE_JOB_SLOW: SLOW}


def _rule(alert: GrafanaAlert) -> str | None:
    return alert.labels.get(ALERT_LABEL_RULE) or alert.labels.get("jobpulse_rule")


def _job_id(alert: GrafanaAlert) -> str | None:
    for key in _JOB_ID_LABELS:
        if alert.labels.get(key):
            return alert.labels[key]
    return None


@router.post("/grafana", response_model=WebhookResult, dependencies=[WebhookAccess])
def grafana_webhook(payload: GrafanaWebhook, store: StoreDep, settings: SettingsDep) -> WebhookResult:
    fresh = store.pipeline_status(settings.freshness_seconds).fresh
    outcomes: list[AlertOutcome] = []

    def out(alert, rule, job_id, action, applied, reason):
        outcomes.append(AlertOutcome(
            fingerprint=alert.fingerprint, rule=rule, job_id=job_id, status=alert.status,
            action=action, applied=applied, reason=reason,
        ))

    for alert in payload.alerts:
        rule, job_id = _rule(alert), _job_id(alert)
        firing = alert.status == "firing"
        if rule == RULE_PIPELINE_DOWN:
            reason_state = alert.annotations.get("grafana_state_reason", "")
            if firing:
                since = alert.startsAt.isoformat() if alert.startsAt else "now"
                store.set_pipeline_alert(since)
                fresh = False
                out(alert, rule, None, "pipeline_down", True, "stale transitions held until the pipeline recovers")
            elif reason_state == "MissingSeries":
                out(alert, rule, None, "none", False, "resolved by MissingSeries: not a recovery")
            else:
                store.set_pipeline_alert(None)
                out(alert, rule, None, "pipeline_up", True, "pipeline alert resolved")
            continue
        if job_id is None:
            out(alert, rule, None, "none", False,
                f"no job id label (alertname={alert.labels.get('alertname', '?')}): ignored")
            continue
        if rule in _WARNINGS:
            kind = _WARNINGS[rule]
            since = to_naive_utc(alert.startsAt) if firing and alert.startsAt else utcnow()
            decision = store.apply_warning(job_id, kind, firing, since)
            if decision is None:
                out(alert, rule, job_id, kind, False, "unknown job")
                continue
            if decision.applied:
                logger.info("job %r: %s", job_id, decision.reason)
            out(alert, rule, job_id, kind, decision.applied, decision.reason)
            continue
        if rule not in (RULE_JOB_STALLED, RULE_JOB_FAILED):
            out(alert, rule, job_id, "none", False, f"rule {rule!r} does not change job state")
            continue
        target = STALLED if rule == RULE_JOB_STALLED else FAILED
        if not firing:
            out(alert, rule, job_id, "none", False, "resolved alerts never change a job; telemetry does")
            continue
        if not fresh:
            logger.warning("refused %s for job %r: pipeline not fresh", target, job_id)
            out(alert, rule, job_id, target, False, "pipeline not fresh: stale transitions refused")
            continue
        threshold = settings.stalled_after if target == STALLED else settings.failed_after
        decision = store.apply_stale(job_id, target, threshold)
        if decision is None:
            out(alert, rule, job_id, target, False, "unknown job")
            continue
        if decision.applied:
            logger.info("job %r -> %s (%s)", job_id, target, decision.reason)
        out(alert, rule, job_id, target, decision.applied, decision.reason)

    applied = sum(1 for o in outcomes if o.applied)
    refused = sum(1 for o in outcomes if not o.applied and o.action != "none")
    return WebhookResult(
        received=len(payload.alerts), applied=applied, refused=refused,
        ignored=len(outcomes) - applied - refused, pipeline_fresh=fresh, outcomes=outcomes,
    )
