"""/query results (epoch=u or ms) -> the hub's records: one Observation per job from the
newest point of each of its series, and chart lines for the series endpoint. Malformed
rows are skipped: the hot path never raises on bad data."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
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
    ATTR_SERVICE_INSTANCE_ID,
    DISK_METRICS,
    DISK_STATUS,
    JOB_DEADLINE,
    JOB_DURATION,
    JOB_ERROR,
    JOB_LAST_PROGRESS,
    JOB_PHASE,
    JOB_PROGRESS,
    JOB_STATUS,
    DiskStatus,
    MetricSpec,
    Phase,
    Status,
)

from ._influxql import ERROR_TAGS, JOB_TAGS, REPORTED_JOB_METRICS

_TAG_KEYS = frozenset((ATTR_DISK_INDEX,) + ERROR_TAGS + JOB_TAGS)
_JOB_SPECS = {m.name: m for m in REPORTED_JOB_METRICS}
_DISK_SPECS = {m.name: m for m in DISK_METRICS}
_CODES: dict[MetricSpec, type[enum.IntEnum]] = {JOB_STATUS: Status, JOB_PHASE: Phase, DISK_STATUS: DiskStatus}
_FLOATS = frozenset({JOB_PROGRESS, JOB_DURATION})


_INF = float("inf")


def finite(value) -> float | None:
    """A point's value as a finite float; None for anything else (NaN, inf, text)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f or f == _INF or f == -_INF else f


def _int(value) -> int | None:
    if type(value) is int:  # InfluxDB's JSON for a counter field: no float round trip
        return value
    f = finite(value)
    return None if f is None else int(f)


def _code_label(codes: type[enum.IntEnum]):
    def convert(raw):
        code = finite(raw)
        try:
            return codes(int(round(code))).label if code is not None else None
        except ValueError:
            return None
    return convert


def _epoch_seconds(raw):
    seconds = finite(raw)
    return from_epoch(seconds=seconds) if seconds is not None and 0 < seconds < 1e11 else None


def _converter(spec: MetricSpec):
    """How a point's value becomes the observation's field (codes as labels)."""
    codes = _CODES.get(spec)
    if codes is not None:
        return _code_label(codes)
    if spec is JOB_LAST_PROGRESS or spec is JOB_DEADLINE:
        return _epoch_seconds
    return finite if spec in _FLOATS else _int


# metric name -> (observation field, converter): looked up by name, once per value
_FIELDS = {m.name: (m.quantity, _converter(m)) for m in REPORTED_JOB_METRICS + DISK_METRICS}


def _fields(values: Mapping[str, tuple[int, object]]) -> dict:
    out = {}
    for name, (_, raw) in values.items():
        field, convert = _FIELDS[name]
        out[field] = convert(raw)
    return out


class _Job:
    """The newest point per series of one job, while a result is read."""

    __slots__ = ("job_type", "machine", "node", "time", "first", "values", "disks", "error")

    def __init__(self) -> None:
        self.job_type: str | None = None
        self.machine: str | None = None
        self.node: str | None = None
        self.time = -1
        self.first = 2**63  # the sender's earliest point in the window: who reported first
        # metric name -> (time, raw value); the name, not the spec, is the key: a str caches
        # its hash, a frozen dataclass computes it on every lookup (a third of the parse time)
        self.values: dict[str, tuple[int, object]] = {}
        self.disks: dict[int, dict[str, tuple[int, object]]] = {}
        self.error: tuple[int, str] | None = None

    def observation(self, job_id: str, sender: str | None) -> Observation:
        disks = tuple(DiskObservation(disk_index=i, **_fields(d)) for i, d in sorted(self.disks.items()))
        values = _fields(self.values)
        if values.get(JOB_STATUS.quantity) == Status.STALLED.label:
            values[JOB_STATUS.quantity] = None  # only the hub decides a job is stalled
        return Observation(
            job_id=job_id, time=from_epoch(microseconds=self.time), job_type=self.job_type,
            machine=self.machine, node=self.node, error_message=self.error[1] if self.error else None,
            sender=sender, disks=disks, **values,
        )


class _Columns:
    """Where a series keeps each tag: a column of its rows (raw queries) or one value for the
    whole series (GROUP BY queries). Resolved once per series, not per row."""

    __slots__ = ("index", "fixed")

    def __init__(self, columns: list, tags: Mapping) -> None:
        self.index = {c: i for i, c in enumerate(columns) if c in _TAG_KEYS}
        self.fixed = tags

    def getter(self, key: str):
        i = self.index.get(key)
        if i is not None:
            return i, None
        return None, self.fixed.get(key)


def _series_kind(name) -> tuple[str, str | None] | None:
    if name == JOB_ERROR.name:
        return "error", None
    if name in _DISK_SPECS:
        return "disk", name
    if name in _JOB_SPECS:
        return "job", name
    return None


def parse_cycle_result(payload: Mapping, owner_of: Callable[[str], str | None] | None = None
                       ) -> dict[str, Observation]:
    """/query JSON (epoch=u) of ``cycle_query`` (or of ``naive_query``) -> one Observation
    per job id. Points of one job id from several senders (``service.instance.id``) are kept
    apart: the observation is the one of ``owner_of(job_id)`` when it reported, else of the sender
    whose first point is the earliest, and carries the others as ``rivals`` (asked only for
    such jobs, so a cycle never builds a map of every job's owner).

    This is the reconciler's hot loop (a row per point of the window: 440 000 at 10 000
    four-disk jobs), so each series' layout is resolved once and rows are read by index.
    """
    jobs: dict[tuple[str, str | None], _Job] = {}
    for result in payload.get("results") or ():
        for series in result.get("series") or ():
            kind = _series_kind(series.get("name"))
            columns = series.get("columns") or ()
            if kind is None or not columns or columns[0] != "time":
                continue
            what, name = kind
            cols = _Columns(columns, series.get("tags") or {})
            value_col = next((i for i, c in enumerate(columns) if c != "time" and c not in _TAG_KEYS), None)
            if value_col is None:
                continue
            width = len(columns)
            ji, jv = cols.getter(ATTR_JOB_ID)
            ti, tv = cols.getter(ATTR_JOB_TYPE)
            mi, mv = cols.getter(ATTR_MACHINE)
            ni, nv = cols.getter(ATTR_HOST_NAME)
            di, dv = cols.getter(ATTR_DISK_INDEX)
            ei, ev = cols.getter(ATTR_ERROR_MESSAGE)
            si, sv = cols.getter(ATTR_SERVICE_INSTANCE_ID)
            for row in series.get("values") or ():
                if len(row) != width:
                    continue
                job_id = row[ji] if ji is not None else jv
                value = row[value_col]
                t = row[0]
                if not job_id or value is None or type(t) is not int:
                    continue
                if what == "disk":
                    index = _int(row[di] if di is not None else dv)
                    if index is None:
                        continue
                key = (job_id, (row[si] if si is not None else sv) or None)
                job = jobs.get(key)
                if job is None:
                    job = jobs[key] = _Job()
                if job.job_type is None:
                    job.job_type = (row[ti] if ti is not None else tv) or None
                if job.machine is None:
                    job.machine = (row[mi] if mi is not None else mv) or None
                if job.node is None:
                    job.node = (row[ni] if ni is not None else nv) or None
                if t > job.time:
                    job.time = t
                if t < job.first:
                    job.first = t
                if what == "job":
                    slot = job.values
                elif what == "disk":
                    slot = job.disks.get(index)
                    if slot is None:
                        slot = job.disks[index] = {}
                else:
                    if job.error is None or t >= job.error[0]:
                        job.error = (t, (row[ei] if ei is not None else ev) or "")
                    continue
                seen = slot.get(name)
                if seen is None or t >= seen[0]:
                    slot[name] = (t, value)
    by_id: dict[str, list[Observation]] = {}
    firsts: dict[tuple[str, str | None], int] = {}
    for (job_id, sender), job in jobs.items():
        try:
            by_id.setdefault(job_id, []).append(job.observation(job_id, sender))
        except (ValueError, OverflowError):
            continue
        firsts[(job_id, sender)] = job.first
    out = {}
    for job_id, found in by_id.items():
        if len(found) > 1:
            owner = owner_of(job_id) if owner_of else None
            found.sort(key=lambda o: (o.sender != owner, firsts[(job_id, o.sender)], o.sender or ""))
            out[job_id] = dataclasses.replace(found[0], rivals=tuple(found[1:]))
        else:
            out[job_id] = found[0]
    return out


def parse_probe_result(payload: Mapping) -> set[str]:
    """/query JSON of ``probe_query`` -> the ids of the jobs that sent a point in the window."""
    out: set[str] = set()
    for result in payload.get("results") or ():
        for series in result.get("series") or ():
            columns = series.get("columns") or ()
            try:
                ji = columns.index(ATTR_JOB_ID)
            except ValueError:
                continue
            for row in series.get("values") or ():
                job_id = row[ji] if len(row) > ji else None
                if job_id and type(job_id) is str:
                    out.add(job_id)
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
