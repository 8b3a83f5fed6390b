"""Running a test on both InfluxDB versions the stack supports."""

from __future__ import annotations

import pytest

# Parametrizes the session's ``influx_major`` (tests/conftest.py): the test's ``influxdb`` and
# ``collector`` are then 1.x's, then 2.7's; the 2.7 run carries the ``influxdb2`` marker.
ON_BOTH_INFLUXDB = pytest.mark.parametrize(
    "influx_major",
    [pytest.param(1, id="influxdb1"), pytest.param(2, id="influxdb2", marks=pytest.mark.influxdb2)],
    indirect=True,
)
