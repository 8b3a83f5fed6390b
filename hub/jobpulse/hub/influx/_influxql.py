"""InfluxQL for the reconciler and the series endpoint.

Every identifier and string literal goes through ``quote_ident``/``quote_literal``, and a job
id inside a regex (the narrowed read) through ``regex_literal_of_ids``, which escapes every
metacharacter and control character, so hostile ids with quotes, backslashes, newlines or regex
characters stay data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from jobpulse.hub.core.clock import to_naive_utc
from jobpulse.semconv import (
    ATTR_DISK_INDEX,
    ATTR_ERROR_MESSAGE,
    ATTR_JOB_ID,
    DISK_ATTRIBUTES,
    DISK_METRICS,
    JOB_ATTRIBUTES,
    JOB_AVERAGE_SPEED,
    JOB_DEADLINE,
    JOB_ERROR,
    JOB_ETA,
    JOB_METRICS,
    JOB_SPEED,
    JOB_STATUS,
    NODE_METRICS,
    NODE_POINT_ATTRIBUTES,
    ATTR_HOST_NAME,
    ATTR_SERVICE_INSTANCE_ID,
    MetricSpec,
)

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(text: str, quote: str) -> str:
    return "".join("\\" + ch if ch == quote else _ESCAPES.get(ch, ch) for ch in text)


def quote_ident(name: str) -> str:
    return '"' + _escape(name, '"') + '"'


def quote_literal(value: str) -> str:
    return "'" + _escape(value, "'") + "'"


def time_literal(value: datetime) -> str:
    return "'" + to_naive_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"


def _by_field(metrics: Iterable[MetricSpec]) -> dict[str, list[MetricSpec]]:
    out: dict[str, list[MetricSpec]] = {}
    for m in metrics:
        out.setdefault(m.field, []).append(m)
    return out


def _raw_statement(metrics: list[MetricSpec], field: str, where: str, tags: tuple[str, ...]) -> str:
    # Raw points with their tags as columns: InfluxDB 1.x answers this in time proportional
    # to the points in the window; last() ... GROUP BY <tags> pays for every series of the
    # shard instead (4.5 s vs 1.0 s for 220 000 series in the benchmark).
    sources = ",".join(quote_ident(m.name) for m in metrics)
    columns = ",".join(quote_ident(c) for c in (field,) + tags)
    return f"SELECT {columns} FROM {sources} WHERE {where}"


# The sending process (a resource attribute, so a tag of every series): one job, one sender.
ERROR_TAGS = JOB_ATTRIBUTES + (ATTR_ERROR_MESSAGE, ATTR_SERVICE_INSTANCE_ID)
# The job's node is a resource attribute: a tag of every job series, read from the job metrics.
JOB_TAGS = JOB_ATTRIBUTES + (ATTR_HOST_NAME, ATTR_SERVICE_INSTANCE_ID)
DISK_TAGS = DISK_ATTRIBUTES + (ATTR_SERVICE_INSTANCE_ID,)
NODE_TAGS = (ATTR_HOST_NAME,) + NODE_POINT_ATTRIBUTES
# Every job-level metric a job may report: JOB_METRICS always, the deadline when it has one.
REPORTED_JOB_METRICS = JOB_METRICS + (JOB_DEADLINE,)


def cycle_query(since: datetime, until: datetime | None = None) -> str:
    """One request, a handful of statements: every job and disk point after ``since`` (and up
    to ``until``, a catch-up's slice); the newest per series is kept by ``parse_cycle_result``."""
    window = f"time > {time_literal(since)}" + (f" AND time <= {time_literal(until)}" if until is not None else "")
    statements = [
        _raw_statement(ms, field, window, JOB_TAGS) for field, ms in _by_field(REPORTED_JOB_METRICS).items()
    ]
    statements += [
        _raw_statement(ms, field, window, DISK_TAGS) for field, ms in _by_field(DISK_METRICS).items()
    ]
    statements.append(_raw_statement([JOB_ERROR], JOB_ERROR.field, window, ERROR_TAGS))
    return ";".join(statements + _node_statements(window))


def _node_statements(window: str) -> list[str]:
    # Nodes in the same request and window: their few series cost what a job's do.
    return [_raw_statement(ms, field, window, NODE_TAGS) for field, ms in _by_field(NODE_METRICS).items()]


# The probe's metric: every export of every job carries its status, and nothing else is as
# cheap to read (one series per job, against 22 for all of a job's metrics).
PROBE_METRIC = JOB_STATUS
# Jobs per statement of a narrowed read, matched by one anchored regex of their ids: InfluxDB
# checks it once per tag value, where N ``=`` terms cost N index look-ups and, past a few
# hundred, more than N times one (1 000 terms: 3.6 s on 1.x). Measured at 1 000 of 10 000 jobs
# (InfluxDB 1.x / 2.7): 100 ``=`` terms per statement 0.75 / 2.0 s; a regex of 100 ids 0.55 /
# 2.0 s, of 1 000 ids 0.88 / 1.3 s.
NARROW_CHUNK = 500
_JOB_AND_DISK_TAGS = tuple(dict.fromkeys(JOB_TAGS + DISK_TAGS + ERROR_TAGS))
# RE2's metacharacters, and the regex literal's own delimiter.
_REGEX_SPECIAL = {ch: "\\" + ch for ch in "\\.+*?()|[]{}^$"}
_REGEX_SPECIAL["/"] = "\\/"
_REGEX_SPECIAL.update({chr(c): f"\\x{{{c:02x}}}" for c in (*range(32), 127)})


def regex_literal_of_ids(job_ids: Iterable[str]) -> str:
    """An InfluxQL regex literal matching exactly ``job_ids``: every metacharacter escaped,
    ``/`` written ``\\/`` (InfluxQL's only escape in a regex literal; other backslashes reach RE2)."""
    alternatives = "|".join("".join(_REGEX_SPECIAL.get(ch, ch) for ch in i) for i in job_ids)
    return f"/^(?:{alternatives})$/"


def probe_query(since: datetime) -> str:
    """Which jobs reported after ``since``: the status points of the window, job id only."""
    return (f"SELECT {quote_ident(PROBE_METRIC.field)},{quote_ident(ATTR_JOB_ID)} "
            f"FROM {quote_ident(PROBE_METRIC.name)} WHERE time > {time_literal(since)}")


def narrowed_cycle_query(since: datetime, job_ids: Iterable[str], chunk: int = NARROW_CHUNK) -> str:
    """``cycle_query`` for only ``job_ids``: their series are picked through the tag index, so
    InfluxDB never visits the series of jobs that sent nothing (a full window pays for every
    series of the shard, reporting or not). Same rows and columns as ``cycle_query``."""
    window = f"time > {time_literal(since)}"
    ids = sorted(set(job_ids))
    by_field = _by_field(REPORTED_JOB_METRICS + DISK_METRICS + (JOB_ERROR,))
    statements = []
    for k in range(0, len(ids), chunk):
        match = f"{quote_ident(ATTR_JOB_ID)} =~ {regex_literal_of_ids(ids[k:k + chunk])} AND {window}"
        statements += [_raw_statement(ms, field, match, _JOB_AND_DISK_TAGS) for field, ms in by_field.items()]
    return ";".join(statements + _node_statements(window))


def naive_query() -> str:
    """The baseline the benchmark compares with: last() over all history of every series."""
    return ";".join(
        f"SELECT last({quote_ident(m.field)}) FROM {quote_ident(m.name)} GROUP BY *"
        for m in JOB_METRICS + DISK_METRICS
    )


def _grouped_by_tags(since: datetime, column) -> str:
    lit = time_literal(since)
    groups = [(ms, field, JOB_TAGS) for field, ms in _by_field(REPORTED_JOB_METRICS).items()]
    groups += [(ms, field, DISK_TAGS) for field, ms in _by_field(DISK_METRICS).items()]
    return ";".join(
        f"SELECT {column(quote_ident(field))} FROM {','.join(quote_ident(m.name) for m in ms)} "
        f"WHERE time > {lit} GROUP BY {','.join(quote_ident(t) for t in tags)}"
        for ms, field, tags in groups)


def last_per_series_query(since: datetime) -> str:
    """A design the cycle query is measured against (``make bench-hub``, on each InfluxDB version):
    the same window, but last() per series, grouped by the same tags."""
    return _grouped_by_tags(since, lambda field: f"last({field})")


def grouped_window_query(since: datetime) -> str:
    """Another design measured by ``make bench-hub``: the raw window grouped by the same tags, so
    each series' tags come once instead of on every row."""
    return _grouped_by_tags(since, lambda field: field)


# --- series endpoint -------------------------------------------------------------

_STEP = re.compile(r"^([1-9][0-9]{0,6})(s|m|h)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
# Rates and estimates are averaged inside a step; counters, codes and sizes keep their last value.
_MEAN_METRICS = frozenset({JOB_SPEED.name, JOB_AVERAGE_SPEED.name, JOB_ETA.name})


def parse_step(step: str) -> int | None:
    m = _STEP.match(step)
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)] if m else None


def series_aggregate(metric: MetricSpec) -> str:
    return "mean" if metric.name in _MEAN_METRICS else "last"


def series_query(metric: MetricSpec, job_id: str, start: datetime, end: datetime, step_seconds: int) -> str:
    group = f"time({step_seconds}s)"
    if ATTR_DISK_INDEX in metric.attributes:
        group += "," + quote_ident(ATTR_DISK_INDEX)
    return (
        f"SELECT {series_aggregate(metric)}({quote_ident(metric.field)}) AS v FROM {quote_ident(metric.name)} "
        f"WHERE {quote_ident(ATTR_JOB_ID)} = {quote_literal(job_id)} "
        f"AND time >= {time_literal(start)} AND time <= {time_literal(end)} "
        f"GROUP BY {group} fill(none)"
    )


# --- node series ------------------------------------------------------------------

_MIB = 2**20
# A node's chart quantity (the seed's field name) -> (InfluxQL of one value per step, unit). {node}
# is the quoted host.name, {time} the bounds, {step} the GROUP BY interval.
_NODE_SERIES = {
    "cpu_percent": (
        'SELECT 100 - 100 * sum("v") AS v FROM (SELECT mean("gauge") AS v FROM "system.cpu.utilization" '
        'WHERE "host.name" = {node} AND ("state" = \'idle\' OR "state" = \'wait\') AND {time} '
        'GROUP BY time({step}), "state") WHERE {time} GROUP BY time({step}) fill(none)', "%"),
    "memory_used_mb": (
        f'SELECT mean("gauge") / {_MIB} AS v FROM "system.memory.usage" WHERE "host.name" = {{node}} '
        "AND \"state\" = 'used' AND {time} GROUP BY time({step}) fill(none)", "MiBy"),
    "load_avg_1m": ('SELECT mean("gauge") AS v FROM "system.cpu.load_average.1m" WHERE "host.name" = {node} '
                    "AND {time} GROUP BY time({step}) fill(none)", "1"),
    "load_avg_5m": ('SELECT mean("gauge") AS v FROM "system.cpu.load_average.5m" WHERE "host.name" = {node} '
                    "AND {time} GROUP BY time({step}) fill(none)", "1"),
    "load_avg_15m": ('SELECT mean("gauge") AS v FROM "system.cpu.load_average.15m" WHERE "host.name" = {node} '
                     "AND {time} GROUP BY time({step}) fill(none)", "1"),
    "process_count": ('SELECT last("gauge") AS v FROM "system.processes.count" WHERE "host.name" = {node} '
                      "AND {time} GROUP BY time({step}) fill(none)", "1"),
}
for _name, _direction in (("network_rx_rate_mbps", "receive"), ("network_tx_rate_mbps", "transmit")):
    _NODE_SERIES[_name] = (
        f'SELECT sum("v") / {_MIB} AS v FROM (SELECT non_negative_derivative(last("counter"), 1s) AS v '
        f'FROM "system.network.io" WHERE "host.name" = {{node}} AND "direction" = \'{_direction}\' AND {{time}} '
        f'GROUP BY time({{step}}), "device") WHERE {{time}} GROUP BY time({{step}}) fill(none)', "MiBy/s")
NODE_SERIES_QUANTITIES = tuple(sorted(_NODE_SERIES))


def node_series_query(quantity: str, node_id: str, start: datetime, end: datetime, step_seconds: int) -> tuple[str, str]:
    """(InfluxQL, unit) of one node quantity over time; KeyError for a quantity without a series."""
    template, unit = _NODE_SERIES[quantity]
    bounds = f"time >= {time_literal(start)} AND time <= {time_literal(end)}"
    return template.format(node=quote_literal(node_id), time=bounds, step=f"{step_seconds}s"), unit
