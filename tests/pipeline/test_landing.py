"""What a real copy writes into InfluxDB through the real collector is exactly what docs/metrics.md promises."""

from __future__ import annotations

import re
import threading
import time

import pytest

from jobpulse import semconv
from tests.support.disks import make_disks
from tests.support.influx import ON_BOTH_INFLUXDB

from .conftest import DISK_SIZES, finish, last_values, new_job_id, start_copy, wait_final_totals

pytestmark = pytest.mark.e2e

RESOURCE_TAGS = {"service.name", "telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version",
                 semconv.ATTR_HOST_NAME, semconv.ATTR_SERVICE_INSTANCE_ID}
SCOPE_TAGS = {semconv.TAG_SCOPE_NAME, semconv.TAG_SCOPE_VERSION}


def _tag_keys(influxdb, measurement: str) -> set[str]:
    body = influxdb.query(f'SHOW TAG KEYS FROM "{measurement}"')
    return {row[0] for row in body["results"][0]["series"][0]["values"]}


def _field_keys(influxdb, measurement: str) -> set[str]:
    body = influxdb.query(f'SHOW FIELD KEYS FROM "{measurement}"')
    return {row[0] for row in body["results"][0]["series"][0]["values"]}


@pytest.fixture(scope="module")
def landed_job(collector, influxdb, tmp_path_factory):
    """One multi-disk copy, completed, its final values landed."""
    import os
    tmp = tmp_path_factory.mktemp("landing")
    disks = make_disks(tmp, DISK_SIZES)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http,
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    job_id = new_job_id("landing")
    summary = finish(start_copy(env, disks, tmp / "dest", job_id, "4M"))
    wait_final_totals(influxdb, job_id, disks)
    return job_id, disks, summary


@ON_BOTH_INFLUXDB
def test_every_promised_measurement_lands_with_its_tags_and_field(influxdb, landed_job):
    job_id, disks, _ = landed_job
    measurements = {row[0] for row in influxdb.query("SHOW MEASUREMENTS")["results"][0]["series"][0]["values"]}
    for spec in semconv.JOB_METRICS + semconv.DISK_METRICS:
        assert spec.name in measurements, f"{spec.name} never reached InfluxDB"
        assert _tag_keys(influxdb, spec.name) == set(spec.attributes) | RESOURCE_TAGS | SCOPE_TAGS, spec.name
        fields = _field_keys(influxdb, spec.name)
        assert spec.field in fields, f"{spec.name}: value not in field {spec.field!r} but in {fields}"
        assert fields <= {spec.field, "start_time_unix_nano"}, f"{spec.name}: unexpected fields {fields}"


@ON_BOTH_INFLUXDB
def test_scope_and_job_tags_carry_the_right_values(influxdb, landed_job):
    job_id, _, _ = landed_job
    body = influxdb.query(
        f'SELECT last("gauge") FROM "{semconv.JOB_STATUS.name}" WHERE "{semconv.ATTR_JOB_ID}" = \'{job_id}\' '
        f'GROUP BY *')
    tags = body["results"][0]["series"][0]["tags"]
    assert tags[semconv.ATTR_JOB_TYPE] == "backup"
    assert tags[semconv.ATTR_MACHINE] == "vm-e2e"
    assert tags[semconv.TAG_SCOPE_NAME] == semconv.SCOPE_NAME
    assert tags["service.name"] == "jobpulse-agent"


@ON_BOTH_INFLUXDB
def test_final_totals_equal_bytes_copied_per_disk_and_job(influxdb, landed_job):
    job_id, disks, summary = landed_job
    assert last_values(influxdb, job_id, semconv.DISK_TRANSFERRED, by_disk=True) == dict(enumerate(disks.sizes))
    assert last_values(influxdb, job_id, semconv.DISK_TOTAL, by_disk=True) == dict(enumerate(disks.sizes))
    assert last_values(influxdb, job_id, semconv.JOB_TRANSFERRED) == {None: sum(disks.sizes)}
    assert last_values(influxdb, job_id, semconv.JOB_TOTAL) == {None: sum(disks.sizes)}
    assert last_values(influxdb, job_id, semconv.JOB_PROGRESS) == {None: 100}
    assert summary["bytes_transferred"] == sum(disks.sizes)
    statuses = last_values(influxdb, job_id, semconv.DISK_STATUS, by_disk=True)
    assert set(statuses.values()) == {semconv.DiskStatus.COMPLETED}
    assert last_values(influxdb, job_id, semconv.JOB_PHASE) == {None: semconv.Phase.DONE}
    duration = last_values(influxdb, job_id, semconv.JOB_DURATION)[None]
    average = last_values(influxdb, job_id, semconv.JOB_AVERAGE_SPEED)[None]
    assert duration > 0
    assert average == pytest.approx(sum(disks.sizes) / duration, rel=0.05)


@ON_BOTH_INFLUXDB
def test_a_job_costs_the_promised_number_of_series(influxdb, landed_job):
    job_id, disks, _ = landed_job
    body = influxdb.query(f'SHOW SERIES WHERE "{semconv.ATTR_JOB_ID}" = \'{job_id}\'')
    series = [row[0] for row in body["results"][0]["series"][0]["values"]]
    assert len(series) == semconv.series_per_job(len(disks.paths))


@ON_BOTH_INFLUXDB
def test_phase_change_is_queryable_within_3s_and_progress_every_5s(agent_env, influxdb, disks, tmp_path):
    """Watch InfluxDB while a slow copy runs: phase changes show up fast, progress points keep coming."""
    job_id = new_job_id("cadence")
    proc = start_copy(agent_env, disks, tmp_path / "dest", job_id, "700K", "--snapshot-seconds", "4")
    seen_at: dict[int, float] = {}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            phase = last_values(influxdb, job_id, semconv.JOB_PHASE).get(None)
            if phase is not None and int(phase) not in seen_at:
                seen_at[int(phase)] = time.time()
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        finish(proc)
    finally:
        stop.set()
        watcher.join()
    wait_final_totals(influxdb, job_id, disks)

    body = influxdb.query(
        f'SELECT "gauge" FROM "{semconv.JOB_PHASE.name}" WHERE "{semconv.ATTR_JOB_ID}" = \'{job_id}\'',
        epoch="ms")
    points = body["results"][0]["series"][0]["values"]
    first_transferring = next(t for t, v in points if int(v) == semconv.Phase.TRANSFERRING) / 1000
    assert semconv.Phase.TRANSFERRING in seen_at, "the transferring phase was never seen while the job ran"
    assert seen_at[semconv.Phase.TRANSFERRING] - first_transferring <= 3.0

    body = influxdb.query(
        f'SELECT "counter" FROM "{semconv.JOB_TRANSFERRED.name}" WHERE "{semconv.ATTR_JOB_ID}" = \'{job_id}\'',
        epoch="ms")
    times = [t / 1000 for t, _ in body["results"][0]["series"][0]["values"]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert times[-1] - times[0] > 12, "the copy should have run for a while"
    assert max(gaps) <= 5.0, f"progress points must arrive at least every 5 s; largest gap {max(gaps):.2f} s"


def test_docs_metrics_names_every_metric_and_tag(repo_root):
    text = (repo_root / "docs" / "metrics.md").read_text()
    for spec in semconv.ALL_METRICS:
        assert spec.name in text, f"docs/metrics.md does not document {spec.name}"
    for tag in RESOURCE_TAGS | SCOPE_TAGS | {"start_time_unix_nano"}:
        assert re.search(re.escape(tag), text), f"docs/metrics.md does not mention the exporter's {tag}"
