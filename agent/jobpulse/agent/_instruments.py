"""The observable instruments: every metric of semconv, read from job snapshots.

One snapshot per job per collection: the first callback of a collection
(``jobpulse.job.transferred``, registered first) takes fresh snapshots and the
others reuse them, so a job's total always equals the sum of its disks in the
same export, to the byte.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from jobpulse import semconv as sc
from ._job import Job
from ._records import JobSnapshot


class Instruments:
    def __init__(self, meter: Meter, jobs: Callable[[], Iterable[Job]]) -> None:
        self._jobs = jobs
        # Collections normally run one at a time, but a forced flush and the periodic reader
        # may overlap: the cached snapshot list is swapped whole under this lock.
        self._lock = threading.Lock()
        self._cache: list[tuple[JobSnapshot, dict, list[dict]]] = []
        self._attrs: dict[int, tuple[dict, list[dict]]] = {}

        def value_of(record, spec):
            # Snapshots name their fields by the contract's quantities; codes go out as ints.
            value = getattr(record, spec.quantity)
            return int(value) if isinstance(value, enum.IntEnum) else value

        def job_metric(spec):
            def callback(options: CallbackOptions):
                return [
                    Observation(v, a) for snap, a, _ in self._snapshots()
                    if (v := value_of(snap, spec)) is not None
                ]
            return callback

        def disk_metric(spec):
            def callback(options: CallbackOptions):
                return [
                    Observation(value_of(d, spec), da[d.disk_index])
                    for snap, _, da in self._snapshots()
                    for d in snap.disks
                ]
            return callback

        def transferred(options: CallbackOptions):
            self._refresh()
            return job_metric(sc.JOB_TRANSFERRED)(options)

        def error(options: CallbackOptions):
            return [
                Observation(1, {**a, sc.ATTR_ERROR_MESSAGE: s.error_message})
                for s, a, _ in self._snapshots()
                if s.status is sc.Status.FAILED
            ]

        callbacks = {sc.JOB_TRANSFERRED: transferred, sc.JOB_ERROR: error}
        # job_metric skips None, so a job without a deadline reports no deadline point at all.
        job_specs = (*sc.JOB_METRICS, sc.JOB_DEADLINE)
        callbacks.update({spec: job_metric(spec) for spec in job_specs if spec not in callbacks})
        callbacks.update({spec: disk_metric(spec) for spec in sc.DISK_METRICS})
        # Registration order matters: JOB_TRANSFERRED (first in ALL_METRICS) refreshes the cache.
        for spec in sc.ALL_METRICS:
            create = (
                meter.create_observable_counter
                if spec.instrument == sc.OBSERVABLE_COUNTER
                else meter.create_observable_gauge
            )
            create(spec.name, callbacks=[callbacks[spec]], unit=spec.unit, description=spec.description)

    def _attributes(self, job: Job) -> tuple[dict, list[dict]]:
        cached = self._attrs.get(id(job))
        if cached is None or cached[0][sc.ATTR_JOB_ID] != job.job_id:
            base = {sc.ATTR_JOB_ID: job.job_id, sc.ATTR_JOB_TYPE: job.job_type, sc.ATTR_MACHINE: job.machine}
            disks = [{**base, sc.ATTR_DISK_INDEX: i} for i in range(job.disk_count)]
            cached = self._attrs[id(job)] = (base, disks)
        return cached

    def _refresh(self) -> None:
        fresh = []
        for job in self._jobs():
            base, disks = self._attributes(job)
            fresh.append((job.snapshot(), base, disks))
        with self._lock:
            self._cache = fresh

    def _snapshots(self):
        with self._lock:
            return self._cache
