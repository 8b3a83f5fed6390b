r"""Grafana's template variables and query macros, expanded the way Grafana does it before a query runs.

Only the variables and macros jobpulse's dashboards and alert rules use; anything else that looks like
a variable or macro raises, so a new one cannot slip through untested. Sources (Grafana 11.0-12.x):

* variables (frontend, before the query leaves the browser): the variable regex of
  public/app/features/variables/utils.ts (``variableRegex``): ``$name``, ``${name}``, ``[[name]]``,
  ``${name:regex}`` (regex-escaped), ``${name:sqlstring}`` (single-quoted, ``'`` doubled). A plain
  ``$name`` inside an InfluxQL regex literal ``/.../`` is regex-escaped as the InfluxDB data source
  does. Built-ins ``$__interval`` (e.g. ``10s``), ``$__interval_ms`` (``10000``), ``$interval``.
* InfluxQL macros (pkg/tsdb/influxdb/influxql/models/query.go, ``Build``: plain string replacement of
  ``$timeFilter`` -> ``time >= <from>ms and time <= <to>ms``, then ``$interval``, ``$__interval_ms``,
  ``$__interval``). The frontend's form for a relative range ending now, ``time >= now() - 1h``, is
  kept as a second form (``TimeRange.relative``); both bound the query the same way.
* MySQL macros, in the two engines Grafana's SQL data sources have, both emulated and both required:
  - ``regex`` (pkg/tsdb/mysql/macros.go, ``mySQLMacroEngine.Interpolate``; unchanged from 11.0 through
    12.x): the pattern ``\$([_a-zA-Z0-9]+)\(([^\)]*)\)``, so the arguments end at the FIRST ``)``,
    split with ``strings.Split(args, ",")`` and trimmed of spaces: nested parentheses break
    (``$__timeFilter(COALESCE(a, b))`` silently becomes ``COALESCE(a BETWEEN ... )``);
  - ``sqlutil`` (grafana-plugin-sdk-go data/sqlutil/macros.go, ``Interpolate``/``parseArgs``, the
    engine of the SDK's SQL data sources): arguments split at depth 1 only.
  ``$__timeFilter(c)`` -> ``c BETWEEN FROM_UNIXTIME(a) AND FROM_UNIXTIME(b)``, ``$__timeGroup(c, 10s)``
  -> ``UNIX_TIMESTAMP(c) DIV 10 * 10``, ``$__timeGroupAlias`` the same plus `` AS "time"``.
  FROM_UNIXTIME() uses the session time zone: the datasource's jsonData.timezone (``+00:00``) is applied
  by :func:`mysql_session_setup` as Grafana's DSN does (``time_zone='<tz>'``, mysql/mysql.go).
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


MYSQL_ENGINES = ("regex", "sqlutil")
_REGEX_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_MACRO_START = re.compile(r"\$([_a-zA-Z0-9]+)\(")


def _depth_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """sqlutil.parseArgs: the arguments of a call whose '(' is at `open_paren`, split at depth 1."""
    depth, args, current = 0, [], ""
    for i in range(open_paren, len(sql)):
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
    raise ValueError(f"unbalanced macro call in: {sql[open_paren:open_paren + 60]!r}")


def _mysql_macro(name: str, args: list[str], tr: TimeRange) -> str:
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN FROM_UNIXTIME({tr.from_s}) AND FROM_UNIXTIME({tr.to_s})"
    if name in ("__timeGroup", "__timeGroupAlias"):
        if len(args) < 2:
            raise ValueError("macro __timeGroup needs time column and interval")
        step = int(seconds(args[1].strip("'\"")))
        return f"UNIX_TIMESTAMP({args[0]}) DIV {step} * {step}" + (' AS "time"' if name == "__timeGroupAlias" else "")
    raise KeyError(f"macro ${name} is not implemented by this emulation")


def expand_mysql(sql: str, tr: TimeRange, variables: Mapping[str, str] | None = None,
                 engine: str = "regex") -> str:
    out = expand_variables(sql, variables or {}, tr, MYSQL_BUILTINS)
    if engine == "regex":
        out = _REGEX_MACRO.sub(lambda m: _mysql_macro(m.group(1), [a.strip(" ") for a in m.group(2).split(",")], tr),
                               out)
    elif engine == "sqlutil":
        while (m := _MACRO_START.search(out)):
            args, end = _depth_args(out, m.end() - 1)
            out = out[:m.start()] + _mysql_macro(m.group(1), args, tr) + out[end:]
    else:
        raise ValueError(f"engine is one of {MYSQL_ENGINES}")
    leftover = referenced_variables(out)
    if leftover:
        raise KeyError(f"unexpanded in SQL: {sorted(leftover)}")
    return out


def mysql_session_setup(datasource: Mapping) -> list[str]:
    """Statements Grafana runs on its MySQL connections for this datasource (session time zone)."""
    zone = (datasource.get("jsonData") or {}).get("timezone")
    return [f"SET time_zone = '{zone}'"] if zone else []
