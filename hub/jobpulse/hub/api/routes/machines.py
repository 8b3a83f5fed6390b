"""Per-machine summary of completed job sizes (the seeds' machine modal)."""

from __future__ import annotations

from fastapi import APIRouter

from jobpulse.hub.api.deps import ReadAccess, StoreDep
from jobpulse.hub.schemas import JobTypeName, MachinesSummary, MachineSummary

router = APIRouter(prefix="/machines", tags=["machines"], dependencies=[ReadAccess])


@router.get("/summary", response_model=MachinesSummary)
def machines_summary(store: StoreDep, job_type: JobTypeName = "backup") -> MachinesSummary:
    rows = store.machines_summary(job_type)
    return MachinesSummary(job_type=job_type, data=[MachineSummary(**r) for r in rows], count=len(rows))
