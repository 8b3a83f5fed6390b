"""InfluxDB as the hub reads it: the /query client, the InfluxQL it sends, and the parsing
of its answers into observations and chart lines."""

from ._client import (
    InfluxClient,
    InfluxConnectionError,
    InfluxError,
    InfluxQueryError,
    InfluxResponseError,
    InfluxTimeoutError,
)
from ._influxql import (
    NODE_SERIES_QUANTITIES,
    cycle_query,
    grouped_window_query,
    last_per_series_query,
    naive_query,
    narrowed_cycle_query,
    node_series_query,
    parse_step,
    probe_query,
    quote_ident,
    quote_literal,
    series_aggregate,
    series_query,
    time_literal,
)
from ._nodes import parse_node_result
from ._parse import SeriesLine, parse_cycle_result, parse_probe_result, parse_series
from ._snapshot_points import snapshot_lines

__all__ = [
    "NODE_SERIES_QUANTITIES",
    "InfluxClient",
    "InfluxConnectionError",
    "InfluxError",
    "InfluxQueryError",
    "InfluxResponseError",
    "InfluxTimeoutError",
    "SeriesLine",
    "cycle_query",
    "grouped_window_query",
    "last_per_series_query",
    "naive_query",
    "narrowed_cycle_query",
    "node_series_query",
    "parse_cycle_result",
    "parse_node_result",
    "parse_probe_result",
    "parse_series",
    "parse_step",
    "probe_query",
    "quote_ident",
    "quote_literal",
    "series_aggregate",
    "series_query",
    "snapshot_lines",
    "time_literal",
]
