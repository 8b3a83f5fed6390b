"""Grafana's template variables and query macros, expanded the way Grafana does it before a query runs.

Test helper: only the variables and macros jobpulse's dashboards and alert rules use. Written from
Grafana's documentation ("Variable syntax", "Advanced variable format options", the InfluxDB and MySQL
data source pages) and the behaviour of their query editors:

* variables (frontend, before the query leaves the browser):
  ``$name``, ``${name}``, ``[[name]]``, ``${name:regex}`` (regex-escaped), ``${name:sqlstring}``
  (single-quoted, ``'`` doubled). A plain ``$name`` inside an InfluxQL regex literal ``/.../`` is
  regex-escaped as Grafana's InfluxDB data source does.
  Built-ins: ``$__interval`` (e.g. ``10s``), ``$__interval_ms`` (``10000``), InfluxDB's legacy
  ``$interval`` (same as ``$__interval``).
* InfluxQL macros: ``$timeFilter`` / ``$__timeFilter`` -> ``time >= now() - 1h`` for a relative range
  ending now (Grafana leaves out the upper bound then), else ``time >= <ms>ms and time <= <ms>ms``.
* MySQL macros (backend, after variables): ``$__timeFilter(col)`` ->
  ``col BETWEEN FROM_UNIXTIME(a) AND FROM_UNIXTIME(b)``, ``$__timeGroup(col, 10s)`` ->
  ``UNIX_TIMESTAMP(col) DIV 10 * 10``, ``$__timeGroupAlias`` the same plus ``AS "time"``.
  FROM_UNIXTIME() uses the session time zone: the datasource's jsonData.timezone (``+00:00``) is applied
  by :func:`mysql_session_setup` as Grafana applies it to its connections.

Anything else that looks like a variable or macro raises, so a new one cannot slip through untested.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Mapping

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Grafana's variable regex (public/app/features/variables/utils.ts, variableRegex).
VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")

INFLUX_BUILTINS = {"__interval", "__interval_ms", "interval", "timeFilter", "__timeFilter"}
MYSQL_BUILTINS = {"__interval", "__interval_ms", "__timeFilter", "__timeGroup", "__timeGroupAlias"}


def seconds(duration: str) -> float:
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"not a Grafana interval: {duration!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def escape_regex(value: str) -> str:
    """Grafana's escapeRegex (the :regex format)."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def sqlstring(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range: by default the last `relative` up to now, as 'now-1h' .. 'now'."""

    relative: str | None = "1h"
    start: float | None = None
    end: float | None = None
    interval: str = "10s"
    now: float = field(default_factory=time.time)

    @property
    def from_s(self) -> int:
        return int(self.start if self.start is not None else self.now - seconds(self.relative))

    @property
    def to_s(self) -> int:
        return int(self.end if self.end is not None else self.now)


def referenced_variables(query: str) -> set[str]:
    """Names of every variable/macro a query references (``$x``, ``${x:fmt}``, ``[[x]]``)."""
    names = set()
    for m in VARIABLE.finditer(query):
        names.add(m.group(1) or m.group(2) or m.group(4))
    return names


def _format(value: str, fmt: str | None, in_regex: bool) -> str:
    if fmt == "regex" or (fmt is None and in_regex):
        return escape_regex(value)
    if fmt == "sqlstring":
        return sqlstring(value)
    if fmt in (None, "raw"):
        return value
    raise ValueError(f"variable format {fmt!r} not implemented by this helper")


def _inside_influx_regex(query: str, position: int) -> bool:
    """True when `position` lies inside an InfluxQL /regex/ literal (an odd number of unescaped / before)."""
    return len(re.findall(r"(?<!\\)/", query[:position])) % 2 == 1


def expand_variables(query: str, variables: Mapping[str, str], tr: TimeRange, builtins: set[str],
                     influx_regex: bool = False) -> str:
    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name == "__interval" or name == "interval":
            return tr.interval
        if name == "__interval_ms":
            return str(int(seconds(tr.interval) * 1000))
        if name in builtins:
            return m.group(0)  # a macro: expanded in the next step
        if name not in variables:
            raise KeyError(f"query uses ${name}, which is neither a dashboard variable nor implemented here")
        return _format(variables[name], fmt, influx_regex and _inside_influx_regex(query, m.start()))

    return VARIABLE.sub(replace, query)


def expand_influxql(query: str, tr: TimeRange, variables: Mapping[str, str] | None = None) -> str:
    out = expand_variables(query, variables or {}, tr, INFLUX_BUILTINS, influx_regex=True)
    if tr.relative and tr.end is None:
        time_filter = f"time >= now() - {tr.relative}"
    else:
        time_filter = f"time >= {tr.from_s * 1000}ms and time <= {tr.to_s * 1000}ms"
    out = re.sub(r"\$(?:__)?timeFilter\b", time_filter, out)
    leftover = referenced_variables(out)
    if leftover:
        raise KeyError(f"unexpanded in InfluxQL: {sorted(leftover)}")
    return out


def _macro_args(sql: str, start: int) -> tuple[list[str], int]:
    """Arguments of a macro call whose '(' is at `start`; nested parentheses allowed."""
    depth, args, current = 0, [], ""
    for i in range(start, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
            if depth == 1:
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(current.strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(current.strip())
            current = ""
            continue
        current += ch
    raise ValueError(f"unbalanced macro call in: {sql[start:start + 60]!r}")


def expand_mysql(sql: str, tr: TimeRange, variables: Mapping[str, str] | None = None) -> str:
    out = expand_variables(sql, variables or {}, tr, MYSQL_BUILTINS)
    macro = re.compile(r"\$(__timeFilter|__timeGroupAlias|__timeGroup)\(")
    while (m := macro.search(out)):
        args, end = _macro_args(out, m.end() - 1)
        name = m.group(1)
        if name == "__timeFilter":
            text = f"{args[0]} BETWEEN FROM_UNIXTIME({tr.from_s}) AND FROM_UNIXTIME({tr.to_s})"
        else:
            step = int(seconds(args[1].strip("'\"")))
            text = f"UNIX_TIMESTAMP({args[0]}) DIV {step} * {step}"
            if name == "__timeGroupAlias":
                text += ' AS "time"'
        out = out[:m.start()] + text + out[end:]
    leftover = referenced_variables(out)
    if leftover:
        raise KeyError(f"unexpanded in SQL: {sorted(leftover)}")
    return out


def mysql_session_setup(datasource: Mapping) -> list[str]:
    """Statements Grafana runs on its MySQL connections for this datasource (session time zone)."""
    zone = (datasource.get("jsonData") or {}).get("timezone")
    return [f"SET time_zone = '{zone}'"] if zone else []
