"""Tools shared by every test suite and by bench/, one module per idea.

wait           poll until a condition holds, fail with what was awaited and what was last seen
disks          source "disk" files of exact sizes for real copies
otlp_sink      a real OTLP/HTTP receiver standing in for the collector
influx         ON_BOTH_INFLUXDB: a test run on InfluxDB 1.x and on 2.7
line_protocol  InfluxDB points written exactly as the collector's influxdb exporter writes them

Import them as ``from tests.support.wait import wait_for`` (the repo root is on the path:
pytest's ``pythonpath = ["."]``; bench scripts run as ``python -m bench.<name>``).
"""
