"""How Grafana's InfluxDB datasource, in InfluxQL mode, sends a query to InfluxDB and reads the answer.

A STAND-IN for Grafana's backend: the request is built from a provisioned datasource (as
emulation.provisioning stores it, ${VAR}s expanded) the way grafana/grafana 11-12 and
grafana-plugin-sdk-go build it, then sent to the real InfluxDB:

* settings (pkg/tsdb/influxdb/influxdb.go, ``NewInstanceSettings``): ``jsonData.httpMode`` defaults to
  GET; the database is ``jsonData.dbName``, else the top-level ``database``; ``secureJsonData.token`` is
  stored but only Flux and SQL modes read it (InfluxQL never does).
* request (pkg/tsdb/influxdb/influxql/influxql.go, ``createRequest``): ``path.Join(url.Path, "query")``;
  ``db`` and ``epoch=ms`` always in the URL; ``q`` in the URL for GET, as a form body for POST; any
  other mode is ``ErrInvalidHttpMode``.
* credentials (grafana-plugin-sdk-go backend/common.go ``HTTPClientOptions``, http_settings.go
  ``parseHTTPSettings``; middleware order in pkg/infra/httpclient/httpclientprovider/
  http_client_provider.go ``New``): ``basicAuth`` uses basicAuthUser/basicAuthPassword, else ``user``
  with ``secureJsonData.password``, as HTTP Basic (never u/p parameters), set only when no Authorization
  header is there yet; then the custom headers ``httpHeaderName<i>``/``httpHeaderValue<i>``, counted from
  1 up to the first gap, replace any header of the same name (so ``Authorization: Token …`` wins).
* answer (influxql/buffered/response_parser.go ``parse``): a non-2xx status is "InfluxDB returned
  error: <error or message>"; then a top-level ``error``; then ``results[0].error`` (how a 200 with
  "database not found" fails a panel).
"""

from __future__ import annotations

import base64
import posixpath
from urllib.parse import urlsplit, urlunsplit

import httpx


class QueryFailed(Exception):
    """What the panel would show as its error."""


def _headers(datasource: dict) -> dict[str, str]:
    secure = datasource.get("secureJsonData") or {}
    json_data = datasource.get("jsonData") or {}
    headers: dict[str, str] = {}
    if datasource.get("basicAuth"):
        user, password = datasource.get("basicAuthUser", ""), secure.get("basicAuthPassword", "")
    else:
        user, password = datasource.get("user") or "", secure.get("password", "")
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    index = 1
    while f"httpHeaderName{index}" in json_data:
        headers[json_data[f"httpHeaderName{index}"]] = secure.get(f"httpHeaderValue{index}", "")
        index += 1
    return headers


def query(datasource: dict, q: str, *, timeout: float = 60.0) -> dict:
    """The InfluxDB answer to ``q`` through this datasource, as Grafana parses it (QueryFailed otherwise)."""
    json_data = datasource.get("jsonData") or {}
    if (json_data.get("version") or "InfluxQL") != "InfluxQL":
        raise ValueError(f"not an InfluxQL datasource: {json_data.get('version')}")
    mode = json_data.get("httpMode") or "GET"
    database = json_data.get("dbName") or datasource.get("database") or ""
    parts = urlsplit(datasource["url"])
    if not parts.scheme or not parts.netloc:
        raise QueryFailed("invalid data source URL")
    url = urlunsplit(parts._replace(path=posixpath.join(parts.path or "/", "query")))
    params = {"db": database, "epoch": "ms"}
    headers = _headers(datasource)
    if mode == "GET":
        response = httpx.get(url, params=dict(params, q=q), headers=headers, timeout=timeout)
    elif mode == "POST":
        response = httpx.post(url, params=params, data={"q": q}, headers=headers, timeout=timeout)
    else:
        raise QueryFailed("invalid HTTP mode")
    try:
        body = response.json()
    except ValueError as exc:
        if response.status_code // 100 != 2:
            raise QueryFailed(f"InfluxDB returned error: {response.text[:200]}") from exc
        raise QueryFailed(f"invalid JSON from InfluxDB: {exc}") from exc
    if response.status_code // 100 != 2:
        raise QueryFailed(f"InfluxDB returned error: {body.get('error') or body.get('message')}")
    if body.get("error"):
        raise QueryFailed(body["error"])
    first = (body.get("results") or [{}])[0]
    if first.get("error"):
        raise QueryFailed(first["error"])
    return body
