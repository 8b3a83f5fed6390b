"""The local jobpulse stack: real servers started as our own processes, data under .run/."""

try:
    import yaml  # noqa: F401
except ImportError as _missing:
    raise ImportError(f"jobpulse.stack needs its extra ({_missing.name} is missing): pip install 'jobpulse[stack]'") from None

from ._collector import Collector, NodeCollector, collector_binary
from ._errors import MissingProgramError, PortBusyError, QueryError, StackError, StartError
from ._hub import Hub
from ._influxdb import InfluxDB, InfluxServer
from ._influxdb2 import InfluxDB2, influxdb2_binary
from ._mariadb import MariaDB
from ._net import free_port, http_status
from ._paths import repo_root, run_dir
from ._process import pid_alive
from ._stack import INFLUXDB_VARIABLE, PORT_VARIABLES, Ports, Stack, influxdb_major, otlp_headers

__all__ = [
    "INFLUXDB_VARIABLE",
    "PORT_VARIABLES",
    "Collector",
    "Hub",
    "InfluxDB",
    "InfluxDB2",
    "InfluxServer",
    "MariaDB",
    "MissingProgramError",
    "NodeCollector",
    "PortBusyError",
    "Ports",
    "QueryError",
    "Stack",
    "StackError",
    "StartError",
    "collector_binary",
    "free_port",
    "http_status",
    "influxdb2_binary",
    "influxdb_major",
    "otlp_headers",
    "pid_alive",
    "repo_root",
    "run_dir",
]
