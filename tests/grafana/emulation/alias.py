"""The series name Grafana's InfluxDB (InfluxQL) data source gives a query's series from its alias.

Follows grafana/grafana pkg/tsdb/influxdb/influxql/util/util.go, ``FormatFrameName`` with the pattern
``legendFormat = \\$(\\w+)|\\[\\[([\\s\\S]+?)\\]\\]`` (11.1 through 12.x; PR #87713). For each match, one
``[[``, ``]]`` and ``$`` are stripped and the token resolved: ``m``/``measurement`` -> the measurement,
``col`` -> the column, an integer N -> segment N of the measurement split on ``.``, ``tag_<key>`` ->
that tag's value; anything unresolved stays as written. So a dotted tag key resolves only in the
bracket form: ``[[tag_disk.index]]`` -> ``7``, while ``$tag_disk.index`` looks up a tag ``disk`` (``\\w``
stops at the dot) and stays ``$tag_disk.index``. Without an alias the name is
``<measurement>.<column> { k: v, ... }`` (``BuildFrameNameFromQuery``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LEGEND_FORMAT = re.compile(r"\$(\w+)|\[\[([\s\S]+?)\]\]")


def series_name(alias: str, measurement: str, column: str, tags: Mapping[str, str]) -> str:
    if not alias:
        suffix = " { " + ", ".join(f"{k}: {v}" for k, v in tags.items()) + " }" if tags else ""
        return f"{measurement}.{column}{suffix}"

    def resolve(match: re.Match[str]) -> str:
        token = match.group(1) if match.group(1) is not None else match.group(2)
        if token in ("m", "measurement"):
            return measurement
        if token == "col":
            return column
        if token.isdigit():
            segments = measurement.split(".")
            index = int(token)
            return segments[index] if index < len(segments) else match.group(0)
        if token.startswith("tag_") and token[4:] in tags:
            return tags[token[4:]]
        return match.group(0)

    return LEGEND_FORMAT.sub(resolve, alias)
