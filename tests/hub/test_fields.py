"""One field list for the job row: the table's columns, the in-memory state, the writer's
parameters and the API's JSON fields are all ``state.JOB_FIELDS`` (plus the row version),
and each metric's quantity names the field it lands in."""

from __future__ import annotations

from datetime import datetime

from jobpulse import semconv as sc
from jobpulse.hub.models import disks_table, jobs_table
from jobpulse.hub.schemas import DiskPublic, JobPublic
from jobpulse.hub.state import DISK_FIELDS, JOB_FIELDS, DiskObservation, DiskState, JobState, Observation
from jobpulse.hub.store import StoredJob

VERSION = "updated_at"


def test_table_state_and_schema_share_one_field_list():
    assert [c.name for c in jobs_table.columns] == list(JOB_FIELDS) + [VERSION]
    assert list(JobPublic.model_fields) == list(JOB_FIELDS) + [VERSION, "node_url", "disks"]
    assert [c.name for c in disks_table.columns] == ["job_id"] + list(DISK_FIELDS)
    assert list(DiskPublic.model_fields) == list(DISK_FIELDS)


def test_every_metric_lands_in_a_field_of_its_own_name():
    job_fields = set(JOB_FIELDS)
    observed = set(Observation.__dataclass_fields__)
    for spec in sc.JOB_METRICS + (sc.JOB_ERROR, sc.JOB_DEADLINE):
        assert spec.quantity in job_fields and spec.quantity in observed, spec.name
    for spec in sc.DISK_METRICS:
        assert spec.quantity in DISK_FIELDS and spec.quantity in DiskObservation.__dataclass_fields__, spec.name
    # The seeds' names stay on the wire.
    assert sc.JOB_SPEED.quantity == "transfer_speed_bps" and sc.JOB_PHASE.quantity == "current_phase"


def test_public_json_carries_every_state_value_and_utc_times():
    t = datetime(2026, 12, 2, 10, 0, 0, 123456)
    state = JobState(id="j", job_type="backup", machine="vm", status="running", current_phase="transferring",
                     bytes_transferred=5, total_bytes=10, transfer_speed_bps=2, eta_seconds=3,
                     progress_percent=50.0, average_speed_bps=1, duration_seconds=4.5, error_message=None,
                     created_at=t, started_at=t, last_telemetry_at=t, last_progress_at=t,
                     disks=(DiskState(0, 10, 5, "transferring", 50.0),))
    body = JobPublic.of(StoredJob(state, t)).model_dump(mode="json")
    for name in JOB_FIELDS:
        value = getattr(state, name)
        assert body[name] == (value.isoformat() + "Z" if isinstance(value, datetime) else value), name
    assert body[VERSION] == "2026-12-02T10:00:00.123456Z"
    assert body["disks"] == [{"disk_index": 0, "size_bytes": 10, "bytes_transferred": 5,
                              "status": "transferring", "progress_percent": 50.0}]
    # The list endpoint's unvalidated path serializes to the same JSON.
    assert JobPublic.trusted(StoredJob(state, t)).model_dump_json() == JobPublic.of(StoredJob(state, t)).model_dump_json()
