"""/query results (epoch=u or ms) -> the hub's records: one Observation per job from the
newest point of each of its series, and chart lines for the series endpoint. Malformed
rows are skipped: the hot path never raises on bad data."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from datetime import datetime

from jobpulse.hub.core.clock import from_epoch
from jobpulse.hub.state import DiskObservation, Observation
from jobpulse.semconv import (
    ATTR_DISK_INDEX,
    ATTR_ERROR_MESSAGE,
    ATTR_HOST_NAME,
    ATTR_JOB_ID,
    ATTR_JOB_TYPE,
    ATTR_MACHINE,
    DISK_METRICS,
    DISK_STATUS,
    JOB_DURATION,
    JOB_ERROR,
    JOB_LAST_PROGRESS,
    JOB_METRICS,
    JOB_PHASE,
    JOB_PROGRESS,
    JOB_STATUS,
    DiskStatus,
    MetricSpec,
    Phase,
    Status,
)

from ._influxql import ERROR_TAGS, JOB_TAGS

_TAG_KEYS = frozenset((ATTR_DISK_INDEX,) + ERROR_TAGS + JOB_TAGS)
_JOB_SPECS = {m.name: m for m in JOB_METRICS}
_DISK_SPECS = {m.name: m for m in DISK_METRICS}
_CODES: dict[MetricSpec, type[enum.IntEnum]] = {JOB_STATUS: Status, JOB_PHASE: Phase, DISK_STATUS: DiskStatus}
_FLOATS = frozenset({JOB_PROGRESS, JOB_DURATION})


def finite(value) -> float | None:
    """A point's value as a finite float; None for anything else (NaN, inf, text)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f or f in (float("inf"), float("-inf")) else f


def _int(value) -> int | None:
    f = finite(value)
    return None if f is None else int(f)


def _value(spec: MetricSpec, raw):
    """A point's value as the observation's field holds it (codes as labels)."""
    codes = _CODES.get(spec)
    if codes is not None:
        code = finite(raw)
        try:
            return codes(int(round(code))).label if code is not None else None
        except ValueError:
            return None
    if spec is JOB_LAST_PROGRESS:
        seconds = finite(raw)
        return from_epoch(seconds=seconds) if seconds is not None and 0 < seconds < 1e11 else None
    return finite(raw) if spec in _FLOATS else _int(raw)


def _rows(series: Mapping) -> Iterator[tuple[dict, object, object]]:
    """(tags, time, value) per row, whether tags came grouped or as columns."""
    columns = series.get("columns") or ()
    base = series.get("tags") or {}
    tag_cols = [(i, c) for i, c in enumerate(columns) if c in _TAG_KEYS]
    value_col = next((i for i, c in enumerate(columns) if c != "time" and c not in _TAG_KEYS), None)
    if value_col is None or not columns or columns[0] != "time":
        return
    for row in series.get("values") or ():
        if len(row) != len(columns):
            continue
        tags = dict(base)
        for i, c in tag_cols:
            if row[i] is not None:
                tags[c] = row[i]
        yield tags, row[0], row[value_col]


class _Job:
    """The newest point per series of one job, while a result is read."""

    __slots__ = ("job_type", "machine", "node", "time", "values", "disks", "error")

    def __init__(self) -> None:
        self.job_type: str | None = None
        self.machine: str | None = None
        self.node: str | None = None
        self.time = -1
        self.values: dict[MetricSpec, tuple[int, object]] = {}
        self.disks: dict[int, dict[MetricSpec, tuple[int, object]]] = {}
        self.error: tuple[int, str] | None = None

    def observation(self, job_id: str) -> Observation:
        disks = tuple(
            DiskObservation(disk_index=i, **{s.quantity: _value(s, v) for s, (_, v) in d.items()})
            for i, d in sorted(self.disks.items())
        )
        values = {s.quantity: _value(s, v) for s, (_, v) in self.values.items()}
        if values.get(JOB_STATUS.quantity) == Status.STALLED.label:
            values[JOB_STATUS.quantity] = None  # only the hub decides a job is stalled
        return Observation(
            job_id=job_id, time=from_epoch(microseconds=self.time), job_type=self.job_type,
            machine=self.machine, node=self.node, error_message=self.error[1] if self.error else None,
            disks=disks, **values,
        )


def _newer(slot: dict, key, t: int, value) -> None:
    seen = slot.get(key)
    if seen is None or t >= seen[0]:
        slot[key] = (t, value)


def parse_cycle_result(payload: Mapping) -> dict[str, Observation]:
    """/query JSON (epoch=u) of ``cycle_query`` (or of ``naive_query``) -> one Observation
    per job id."""
    jobs: dict[str, _Job] = {}
    for result in payload.get("results") or ():
        for series in result.get("series") or ():
            name = series.get("name")
            for tags, t, value in _rows(series):
                job_id = tags.get(ATTR_JOB_ID)
                if not job_id or value is None or not isinstance(t, int):
                    continue
                if name == JOB_ERROR.name:
                    slot, key, value = None, None, tags.get(ATTR_ERROR_MESSAGE) or ""
                elif name in _DISK_SPECS:
                    index = _int(tags.get(ATTR_DISK_INDEX))
                    if index is None:
                        continue
                    slot, key = index, _DISK_SPECS[name]
                elif name in _JOB_SPECS:
                    slot, key = None, _JOB_SPECS[name]
                else:
                    continue
                job = jobs.get(job_id)
                if job is None:
                    job = jobs[job_id] = _Job()
                job.job_type = job.job_type or tags.get(ATTR_JOB_TYPE) or None
                job.machine = job.machine or tags.get(ATTR_MACHINE) or None
                job.node = job.node or tags.get(ATTR_HOST_NAME) or None
                job.time = max(job.time, t)
                if key is None:
                    if job.error is None or t >= job.error[0]:
                        job.error = (t, value)
                elif slot is None:
                    _newer(job.values, key, t, value)
                else:
                    _newer(job.disks.setdefault(slot, {}), key, t, value)
    out = {}
    for job_id, job in jobs.items():
        try:
            out[job_id] = job.observation(job_id)
        except (ValueError, OverflowError):
            continue
    return out


SeriesLine = tuple[int | None, list[tuple[datetime, float]]]


def parse_series(payload: Mapping) -> list[SeriesLine]:
    """/query JSON (epoch=ms) of ``series_query`` -> (disk index or None, points) per line,
    the job's line first, then its disks in order."""
    lines: list[SeriesLine] = []
    for result in payload.get("results") or ():
        for s in result.get("series") or ():
            tag = (s.get("tags") or {}).get(ATTR_DISK_INDEX)
            try:
                disk_index = int(tag) if tag not in (None, "") else None
            except ValueError:
                continue
            points = [
                (from_epoch(milliseconds=t), v)
                for t, v in (s.get("values") or ())
                if t is not None and v is not None
            ]
            lines.append((disk_index, points))
    lines.sort(key=lambda line: -1 if line[0] is None else line[0])
    return lines
