"""The pipeline's own freshness: a stopped reconciler, InfluxDB or collector makes every
job look silent at once, so stale transitions wait for a fresh pipeline."""

from __future__ import annotations

from fastapi import APIRouter, Request

from jobpulse.hub.api.deps import ReadAccess, SettingsDep, StoreDep
from jobpulse.hub.schemas import PipelinePublic

router = APIRouter(tags=["pipeline"], dependencies=[ReadAccess])


@router.get("/pipeline", response_model=PipelinePublic)
def pipeline(request: Request, store: StoreDep, settings: SettingsDep) -> PipelinePublic:
    limiter = request.app.state.access.limiter
    status = store.pipeline_status(settings.freshness_seconds)

    def age(value):
        return None if value is None else round((status.now - value).total_seconds(), 3)

    return PipelinePublic(
        fresh=status.fresh,
        reason=status.reason,
        last_reconcile_at=status.last_reconcile_at,
        newest_point_at=status.newest_point_at,
        reconciler_id=status.reconciler_id,
        reconcile_age_seconds=age(status.last_reconcile_at),
        newest_point_age_seconds=age(status.newest_point_at),
        freshness_seconds=settings.freshness_seconds,
        stalled_after_seconds=settings.stalled_after,
        failed_after_seconds=settings.failed_after,
        auto_register=settings.auto_register,
        unknown_jobs_ignored=status.unknown_jobs,
        late_points_ignored=status.late_points,
        invalid_job_ids_ignored=status.invalid_job_ids,
        conflicting_sender_points_ignored=status.conflicting_points,
        pipeline_alert_firing_since=status.alert_since,
        auth_failures=limiter.failed,
        auth_refused=limiter.refused,
    )
