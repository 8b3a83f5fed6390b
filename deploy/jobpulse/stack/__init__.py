"""The local jobpulse stack: real servers started as our own processes, data under .run/."""

from ._collector import Collector, collector_binary
from ._errors import MissingProgramError, QueryError, StackError, StartError
from ._hub import Hub
from ._influxdb import InfluxDB
from ._mariadb import MariaDB
from ._net import free_port
from ._paths import repo_root, run_dir
from ._stack import Ports, Stack

__all__ = [
    "Collector",
    "Hub",
    "InfluxDB",
    "MariaDB",
    "MissingProgramError",
    "Ports",
    "QueryError",
    "Stack",
    "StackError",
    "StartError",
    "collector_binary",
    "free_port",
    "repo_root",
    "run_dir",
]
