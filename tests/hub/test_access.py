"""Access control: every route x every kind of credential, built from the app's own route table
(a new route without a declared scope fails here, and the app refuses to build); token rotation;
the browser session; CORS; the failed-authentication limit; the start-up refusal on a public
address; HTTPS with a certificate generated here; no token in any log."""

from __future__ import annotations

import base64
import os
import re
import ssl
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jobpulse.hub import create_app
from jobpulse.hub.api.access import SESSION_COOKIE, Scope, app_routes, is_websocket, route_scope
from jobpulse.hub.main import main as hub_main
from jobpulse.stack import free_port
from tests.support.tls import self_signed
from tests.support.wait import wait_for

from ._helpers import WEBHOOK_PASSWORD, WEBHOOK_USER, make_settings

pytestmark = pytest.mark.security

READ_TOKEN = "read-token-5f1c9a0e77"
WRITE_TOKEN = "write-token-8d2b6e41c3"
OLD_WRITE_TOKEN = "write-token-old-93aa01"
BASIC = base64.b64encode(f"{WEBHOOK_USER}:{WEBHOOK_PASSWORD}".encode()).decode()
CREDENTIALS = {
    "none": {},
    "wrong": {"Authorization": "Bearer not-a-token"},
    "read": {"Authorization": f"Bearer {READ_TOKEN}"},
    "write": {"Authorization": f"Bearer {WRITE_TOKEN}"},
    "webhook": {"Authorization": f"Basic {BASIC}"},
}
# What each scope answers to each credential: a status, or "ok" for anything the route itself
# decides once let in (2xx, 404 for the placeholder ids, 422 for the empty bodies).
EXPECTED = {
    Scope.PUBLIC: {"none": "ok", "wrong": "ok", "read": "ok", "write": "ok", "webhook": "ok"},
    Scope.READ: {"none": 401, "wrong": 401, "read": "ok", "write": "ok", "webhook": 401},
    Scope.WRITE: {"none": 401, "wrong": 401, "read": 403, "write": "ok", "webhook": 401},
    Scope.LEGACY: {"none": 401, "wrong": 401, "read": 403, "write": "ok", "webhook": 401},
    Scope.WEBHOOK: {"none": 401, "wrong": 401, "read": 401, "write": 401, "webhook": "ok"},
}
PLACEHOLDERS = {"job_id": "no-such-job", "node_id": "no-such-node", "job_type": "backup"}


@pytest.fixture
def secured(client_factory, sqlite_url):
    """A hub with read and write tokens (two write tokens: one being rotated out), and a high failure
    limit so the matrix's wrong tokens do not lock the test client out."""
    return client_factory(sqlite_url, api_token=None, write_tokens=f"{WRITE_TOKEN},{OLD_WRITE_TOKEN}",
                          read_tokens=READ_TOKEN, auth_failures_per_minute=1000)


def routes(app: FastAPI):
    """The app's own route table, FastAPI's pages (the OpenAPI document, /docs) aside."""
    for route in app_routes(app):
        if route.path not in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
            yield route


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], path)


def call(client: TestClient, method: str, path: str, headers: dict) -> int:
    if method in ("POST", "PUT", "PATCH"):
        return client.request(method, path, headers=headers, json={}).status_code
    if path.endswith(("/events", "/stream/jobs")):  # streams: the status, then hang up
        with client.stream(method, path, headers=headers) as r:
            return r.status_code
    return client.request(method, path, headers=headers).status_code


def test_every_route_declares_a_scope(secured):
    found = {route.path: route_scope(route) for route in routes(secured.app)}
    assert None not in found.values(), found
    # the route table this matrix is about (docs/hub.md shows the same)
    assert found["/api/v1/jobs"] in (Scope.READ, Scope.WRITE) and found["/healthz"] is Scope.PUBLIC
    assert found["/api/v1/nodes/stream"] is Scope.READ and found["/api/v1/alerts/grafana"] is Scope.WEBHOOK


def test_a_route_without_a_scope_stops_the_app_from_building(sqlite_url, monkeypatch):
    from jobpulse.hub.api import main as api_main

    extra = APIRouter()

    @extra.get("/api/v1/forgotten")
    def forgotten() -> dict:
        return {}

    patched = APIRouter()
    patched.include_router(api_main.api_router)
    patched.include_router(extra)
    monkeypatch.setattr(sys.modules["jobpulse.hub.main"], "api_router", patched)
    with pytest.raises(RuntimeError, match="/api/v1/forgotten"):
        create_app(make_settings(sqlite_url))


def test_the_route_matrix(secured):
    table = []
    for route in routes(secured.app):
        scope = route_scope(route)
        path = concrete(route.path)
        if is_websocket(route):
            for name, headers in CREDENTIALS.items():
                try:
                    with secured.websocket_connect(path, headers=headers):
                        got = "ok"  # the handshake was accepted
                except WebSocketDisconnect as closed:
                    got = 401 if closed.code == 1008 else closed.code
                want = EXPECTED[scope][name]
                assert got == want, (path, name, got)
                table.append(("WS", route.path, scope.value, name, got))
            continue
        for method in sorted(route.methods - {"HEAD"}):
            for name, headers in CREDENTIALS.items():
                status = call(secured, method, path, headers)
                want = EXPECTED[scope][name]
                if want == "ok":
                    assert status not in (401, 403, 429, 500), (method, path, name, status)  # 503: no InfluxDB here
                else:
                    assert status == want, (method, path, name, status)
                table.append((method, route.path, scope.value, name, status))
    assert len({(m, p) for m, p, *_ in table}) >= 17
    print("\n".join(" ".join(str(c) for c in row) for row in table))  # the closing note's table


def test_the_openapi_document_shows_each_scope(secured):
    doc = secured.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"readToken", "bearerToken", "sessionCookie", "webhookBasic"}
    assert schemes["sessionCookie"] == {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                                        "description": schemes["sessionCookie"]["description"]}
    for route in routes(secured.app):
        if is_websocket(route) or not route.include_in_schema:  # the page's files are not API
            continue
        for method in route.methods - {"HEAD"}:
            op = doc["paths"][route.path][method.lower()]
            names = {n for req in op.get("security", []) for n in req}
            want = {Scope.PUBLIC: set(), Scope.READ: {"readToken", "sessionCookie"},
                    Scope.WRITE: {"bearerToken"}, Scope.LEGACY: {"bearerToken"},
                    Scope.WEBHOOK: {"webhookBasic"}}[route_scope(route)]
            assert names == want, (method, route.path)
            assert {} not in op.get("security", []), "reads are not open on this hub"


def test_reads_are_open_only_on_loopback_without_read_tokens(client_factory, sqlite_url):
    open_hub = client_factory(sqlite_url)  # 127.0.0.1, no read token: today's default
    assert open_hub.get("/api/v1/jobs").status_code == 200
    assert {} in open_hub.get("/openapi.json").json()["paths"]["/api/v1/jobs"]["get"]["security"]
    public = client_factory(sqlite_url, host="0.0.0.0", public_read=True)
    assert public.get("/api/v1/jobs").status_code == 200


def test_rotation_two_write_tokens_then_one(client_factory, sqlite_url):
    both = client_factory(sqlite_url, api_token=OLD_WRITE_TOKEN, write_tokens=WRITE_TOKEN)
    for n, token in enumerate((WRITE_TOKEN, OLD_WRITE_TOKEN)):
        r = both.post("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"},
                      json={"id": f"rot-{n}", "job_type": "backup", "machine": "vm"})
        assert r.status_code == 201, r.text
    # the old token removed from the configuration (a restart: settings are read at start)
    new = client_factory(sqlite_url, api_token=None, write_tokens=WRITE_TOKEN)
    r = new.post("/api/v1/jobs", headers={"Authorization": f"Bearer {OLD_WRITE_TOKEN}"},
                 json={"id": "rot-2", "job_type": "backup", "machine": "vm"})
    assert r.status_code == 401
    assert new.get("/api/v1/jobs/rot-0").status_code == 200


def test_session_cookie_reads_but_never_writes(secured):
    assert secured.get("/api/v1/jobs").status_code == 401
    r = secured.post("/api/v1/session", json={"token": READ_TOKEN})
    assert r.status_code == 200, r.text
    header = r.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "max-age=28800" in header
    assert "secure" not in header.replace("samesite", ""), "plain HTTP: no Secure flag (it is set on TLS)"
    assert secured.get("/api/v1/jobs").status_code == 200  # the client now carries the cookie
    assert secured.get("/api/v1/pipeline").status_code == 200
    r = secured.post("/api/v1/jobs", json={"id": "csrf", "job_type": "backup", "machine": "vm"})
    assert r.status_code == 401, "a write never takes the cookie"
    assert secured.delete("/api/v1/session").status_code == 204
    assert secured.get("/api/v1/jobs").status_code == 401
    secured.cookies.set(SESSION_COOKIE, r.request.headers.get("cookie", "x.y").split("=", 1)[-1] + "forged")
    assert secured.get("/api/v1/jobs").status_code == 401
    assert secured.post("/api/v1/session", json={"token": "guess"}).status_code == 401
    assert "not-a-token" not in secured.post("/api/v1/session", json={"token": "not-a-token"}).text


def test_expired_session_is_refused(client_factory, sqlite_url):
    c = client_factory(sqlite_url, read_tokens=READ_TOKEN, session_seconds=1)
    assert c.post("/api/v1/session", json={"token": READ_TOKEN}).status_code == 200
    cookie = c.cookies[SESSION_COOKIE]
    assert c.get("/api/v1/jobs").status_code == 200
    time.sleep(2.1)
    # a browser drops it after Max-Age; the hub refuses it anyway (its expiry is signed into it)
    r = c.get("/api/v1/jobs", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_cors_is_off_by_default_and_allows_listed_origins_only(client_factory, sqlite_url):
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    plain = client_factory(sqlite_url)
    r = plain.options("/api/v1/jobs", headers={"Origin": "https://gui.example.com", **preflight})
    assert "access-control-allow-origin" not in r.headers
    gui = client_factory(sqlite_url, cors_origins="https://gui.example.com")
    r = gui.options("/api/v1/jobs", headers={"Origin": "https://gui.example.com", **preflight})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://gui.example.com"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = gui.options("/api/v1/jobs", headers={"Origin": "https://evil.example.net", **preflight})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = gui.get("/api/v1/jobs", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in r.headers


def test_repeated_failures_get_429_with_retry_after(client_factory, sqlite_url, caplog):
    c = client_factory(sqlite_url, read_tokens=READ_TOKEN, auth_failures_per_minute=5)
    for _ in range(5):
        assert c.get("/api/v1/jobs", headers={"Authorization": "Bearer guess-123"}).status_code == 401
    r = c.get("/api/v1/jobs", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 61, r.headers
    assert "too many failed authentications" in r.json()["detail"]
    assert c.post("/api/v1/session", json={"token": READ_TOKEN}).status_code == 429
    pipeline = client_factory(sqlite_url, read_tokens=READ_TOKEN)
    assert pipeline.get("/api/v1/pipeline", headers={"Authorization": f"Bearer {READ_TOKEN}"}).json()[
        "auth_failures"] == 0, "counted per replica"
    assert "guess-123" not in caplog.text and "blocked for a minute" in caplog.text


def test_missing_credentials_do_not_count_as_failures(client_factory, sqlite_url):
    c = client_factory(sqlite_url, read_tokens=READ_TOKEN, auth_failures_per_minute=2)
    for _ in range(5):
        assert c.get("/api/v1/jobs").status_code == 401
    assert c.get("/api/v1/jobs", headers={"Authorization": f"Bearer {READ_TOKEN}"}).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_public_address_without_a_read_decision_refuses_to_start(host, monkeypatch, capsys, sqlite_url):
    monkeypatch.setenv("JOBPULSE_DATABASE_URL", sqlite_url)
    for name in ("JOBPULSE_READ_TOKENS", "JOBPULSE_PUBLIC_READ"):
        monkeypatch.delenv(name, raising=False)
    assert hub_main(["--host", host]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JOBPULSE_READ_TOKENS" in err and "JOBPULSE_PUBLIC_READ=true" in err


def test_tls_certificate_and_key_go_together(monkeypatch, capsys, sqlite_url, tmp_path):
    monkeypatch.setenv("JOBPULSE_DATABASE_URL", sqlite_url)
    (tmp_path / "cert.pem").write_text("x")
    assert hub_main(["--tls-cert", str(tmp_path / "cert.pem")]) == 2
    assert "JOBPULSE_TLS_KEY_FILE" in capsys.readouterr().err


def test_https_with_a_generated_certificate_and_no_token_in_the_log(tmp_path, sqlite_url):
    cert, key = self_signed(tmp_path, "hub")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    env = dict(os.environ, JOBPULSE_DATABASE_URL=sqlite_url, JOBPULSE_WRITE_TOKENS=WRITE_TOKEN,
               JOBPULSE_READ_TOKENS=READ_TOKEN, JOBPULSE_RECONCILER_ENABLED="false", JOBPULSE_PORT=str(port))
    env.pop("JOBPULSE_API_TOKEN", None)
    trust = ssl.create_default_context(cafile=str(cert))
    log_path = tmp_path / "hub.log"
    with open(log_path, "w") as log:
        hub = subprocess.Popen([sys.executable, "-m", "jobpulse.hub", "--tls-cert", str(cert), "--tls-key", str(key)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                return httpx.get(f"{url}/healthz", verify=trust).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, what="the hub on HTTPS")
        with httpx.Client(base_url=url, verify=trust) as c:
            assert c.get("/api/v1/jobs").status_code == 401
            r = c.post("/api/v1/session", json={"token": READ_TOKEN})
            assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower()
            assert c.get("/api/v1/jobs").status_code == 200
            r = c.post("/api/v1/jobs", headers={"Authorization": f"Bearer {WRITE_TOKEN}"},
                       json={"id": "tls-1", "job_type": "backup", "machine": "vm"})
            assert r.status_code == 201, r.text
            for _ in range(3):
                c.get("/api/v1/jobs", headers={"Authorization": "Bearer wrong-secret-77"})
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz")  # an unknown certificate is refused by default
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # no plain HTTP on the TLS port
    finally:
        hub.terminate()
        hub.wait(timeout=20)
    log_text = log_path.read_text()
    assert "authentication failed" in log_text
    for secret in (READ_TOKEN, WRITE_TOKEN, "wrong-secret-77"):
        assert secret not in log_text
