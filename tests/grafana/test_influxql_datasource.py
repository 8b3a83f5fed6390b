"""Grafana's InfluxQL datasource (emulation.influxql, Grafana's request and parser) against the real
InfluxDB 2.7: the InfluxDB 2 datasource file reaches the bucket through its DBRP mapping with the
read-only token in its custom header; the 1.x file, or a token that may not read, shows the panel error
Grafana would."""

from __future__ import annotations

import uuid

import pytest

from . import grafana_files as gf
from .emulation import influxql, interpolation

pytestmark = [pytest.mark.e2e, pytest.mark.influxdb2, pytest.mark.parametrize("influx_major", [2], indirect=True)]


def _datasource(path, environ) -> dict:
    provisioned = interpolation.interpolate(gf.load_yaml(path)["datasources"], environ)
    return next(ds for ds in provisioned if ds["uid"] == gf.INFLUX_UID)


@pytest.fixture
def measurement(influxdb) -> str:
    name = f"ds_check_{uuid.uuid4().hex[:8]}"
    influxdb.write(f"{name},job.id=a value=7i")
    return name


@pytest.mark.parametrize("mode", ["GET", "POST"])
def test_the_influxdb2_file_reads_through_the_dbrp_mapping_with_the_read_token(influxdb, measurement, mode):
    datasource = _datasource(gf.DATASOURCES_FILE_INFLUXDB2, influxdb.grafana_environment())
    datasource["jsonData"]["httpMode"] = mode
    body = influxql.query(datasource, f'SELECT last("value") FROM "{measurement}"')
    [series] = body["results"][0]["series"]
    assert series["values"][0][1] == 7
    assert isinstance(series["values"][0][0], int)  # epoch=ms, as Grafana asks


def test_the_1x_file_on_influxdb2_is_refused_plainly(influxdb, measurement):
    environ = dict(influxdb.grafana_environment(), JOBPULSE_INFLUX_USERNAME="grafana", JOBPULSE_INFLUX_PASSWORD="x")
    with pytest.raises(influxql.QueryFailed, match="InfluxDB returned error: (?i:unauthorized)"):
        influxql.query(_datasource(gf.DATASOURCES_FILE, environ), f'SELECT * FROM "{measurement}"')


def test_a_token_that_may_not_read_sees_no_database(influxdb, measurement):
    environ = dict(influxdb.grafana_environment(), JOBPULSE_INFLUX_TOKEN=influxdb.token("collector"))
    with pytest.raises(influxql.QueryFailed, match="database not found"):
        influxql.query(_datasource(gf.DATASOURCES_FILE_INFLUXDB2, environ), f'SELECT * FROM "{measurement}"')
