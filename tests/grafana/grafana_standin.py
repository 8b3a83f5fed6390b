"""A STAND-IN for Grafana's HTTP API (a mock: Grafana itself cannot run in this environment).

A small in-memory HTTP server on loopback, written from Grafana's HTTP API documentation (Grafana 11):
  - Data source API: GET /api/datasources/uid/:uid, POST /api/datasources, PUT /api/datasources/uid/:uid.
    Secrets (secureJsonData) are write-only: reads return `secureJsonFields: {name: true}` instead.
  - Folder API: GET /api/folders/:uid, POST /api/folders, PUT /api/folders/:uid.
  - Dashboard API: GET /api/dashboards/uid/:uid -> {dashboard, meta}, POST /api/dashboards/db
    (create or overwrite; the stored dashboard gets id and an incremented version).
  - Alerting provisioning API: /api/v1/provisioning/alert-rules[/:uid] (GET, POST 201, PUT),
    /api/v1/provisioning/folder/:folderUid/rule-groups/:group (GET 404 when absent, PUT creates or
    replaces the group: interval in seconds plus its rules), /api/v1/provisioning/contact-points[/:uid]
    (GET lists receivers with secure settings shown as "[REDACTED]", POST, PUT 202),
    /api/v1/provisioning/policies (GET the tree, PUT replaces it 202).
  - Authentication: a service-account token (Bearer) or basic auth; anything else is 401.
Every write is recorded in `writes` as (method, path) so tests can assert exactly what changed.
It does not model Grafana's validation of queries, templates or permissions.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECURE_SETTINGS = {"webhook": {"password", "authorization_credentials"}, "pagerduty": {"integrationKey"},
                   "slack": {"url", "token"}, "email": set()}
DEFAULT_POLICY = {"receiver": "grafana-default-email", "group_by": ["grafana_folder", "alertname"]}


class GrafanaStandIn:
    def __init__(self, token: str = "sa-token", basic: tuple[str, str] = ("admin", "secret")) -> None:
        self.token = token
        self.basic = basic
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.groups: dict[tuple[str, str], dict] = {}
        self.contact_points: dict[str, dict] = {}
        self.policy: dict = copy.deepcopy(DEFAULT_POLICY)
        self.writes: list[tuple[str, str]] = []
        # (method, path) -> HTTP status to answer instead, to exercise error handling
        self.failures: dict[tuple[str, str], int] = {}
        self._ids = 0
        self._lock = threading.Lock()  # the server is threaded; state changes one request at a time
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="grafana-standin", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # ---------------------------------------------------------------------------------- routing
    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                header = self.headers.get("Authorization", "")
                if header == f"Bearer {standin.token}":
                    return True
                expected = base64.b64encode(":".join(standin.basic).encode()).decode()
                return header == f"Basic {expected}"

            def _dispatch(self, method: str) -> None:
                if not self._authorised():
                    return self._send(401, {"message": "Unauthorized"})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?")[0]
                with standin._lock:
                    if (method, path) in standin.failures:
                        return self._send(standin.failures[(method, path)], {"message": "injected failure"})
                    if method != "GET":
                        standin.writes.append((method, path))
                    status, answer = standin.route(method, path, body)
                self._send(status, answer)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PUT(self):
                self._dispatch("PUT")

            def do_DELETE(self):
                self._dispatch("DELETE")

        return Handler

    def route(self, method: str, path: str, body):
        routes = [
            ("GET", r"/api/health", lambda: (200, {"database": "ok", "version": "11.3.0"})),
            ("GET", r"/api/datasources/uid/([^/]+)", self.get_datasource),
            ("POST", r"/api/datasources", lambda: self.create_datasource(body)),
            ("PUT", r"/api/datasources/uid/([^/]+)", lambda uid: self.update_datasource(uid, body)),
            ("GET", r"/api/folders/([^/]+)", self.get_folder),
            ("POST", r"/api/folders", lambda: self.create_folder(body)),
            ("PUT", r"/api/folders/([^/]+)", lambda uid: self.update_folder(uid, body)),
            ("GET", r"/api/dashboards/uid/([^/]+)", self.get_dashboard),
            ("POST", r"/api/dashboards/db", lambda: self.save_dashboard(body)),
            ("GET", r"/api/v1/provisioning/alert-rules/([^/]+)", self.get_rule),
            ("POST", r"/api/v1/provisioning/alert-rules", lambda: self.create_rule(body)),
            ("PUT", r"/api/v1/provisioning/alert-rules/([^/]+)", lambda uid: self.update_rule(uid, body)),
            ("GET", r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", self.get_group),
            ("PUT", r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)",
             lambda f, g: self.put_group(f, g, body)),
            ("GET", r"/api/v1/provisioning/contact-points", self.list_contact_points),
            ("POST", r"/api/v1/provisioning/contact-points", lambda: self.create_contact_point(body)),
            ("PUT", r"/api/v1/provisioning/contact-points/([^/]+)",
             lambda uid: self.update_contact_point(uid, body)),
            ("GET", r"/api/v1/provisioning/policies", lambda: (200, copy.deepcopy(self.policy))),
            ("PUT", r"/api/v1/provisioning/policies", lambda: self.put_policy(body)),
        ]
        for verb, pattern, handler in routes:
            m = re.fullmatch(pattern, path)
            if verb == method and m:
                return handler(*m.groups())
        return 404, {"message": "Not found"}

    # ---------------------------------------------------------------------------------- datasources
    def _public_datasource(self, ds: dict) -> dict:
        out = {k: v for k, v in ds.items() if k != "secureJsonData"}
        out["secureJsonFields"] = {k: True for k, v in (ds.get("secureJsonData") or {}).items() if v}
        return copy.deepcopy(out)

    def get_datasource(self, uid):
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, self._public_datasource(self.datasources[uid])

    def create_datasource(self, body):
        if body["uid"] in self.datasources or any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        ds = dict(copy.deepcopy(body), id=self._next_id(), version=1, orgId=1, readOnly=False)
        self.datasources[ds["uid"]] = ds
        return 200, {"datasource": self._public_datasource(ds), "id": ds["id"], "message": "Datasource added",
                     "name": ds["name"]}

    def update_datasource(self, uid, body):
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        old = self.datasources[uid]
        secrets = dict(old.get("secureJsonData") or {})
        secrets.update(body.get("secureJsonData") or {})
        ds = dict(copy.deepcopy(body), id=old["id"], version=old["version"] + 1, orgId=1, readOnly=False,
                  secureJsonData=secrets)
        self.datasources[uid] = ds
        return 200, {"datasource": self._public_datasource(ds), "id": ds["id"], "message": "Datasource updated"}

    # ---------------------------------------------------------------------------------- folders, dashboards
    def get_folder(self, uid):
        if uid not in self.folders:
            return 404, {"message": "folder not found"}
        return 200, copy.deepcopy(self.folders[uid])

    def create_folder(self, body):
        uid = body.get("uid")
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {"id": self._next_id(), "uid": uid, "title": body["title"], "version": 1}
        self.folders[uid] = folder
        return 200, copy.deepcopy(folder)

    def update_folder(self, uid, body):
        if uid not in self.folders:
            return 404, {"message": "folder not found"}
        folder = self.folders[uid]
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, copy.deepcopy(folder)

    def get_dashboard(self, uid):
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        stored = self.dashboards[uid]
        return 200, {"dashboard": copy.deepcopy(stored["dashboard"]),
                     "meta": {"folderUid": stored["folderUid"], "version": stored["dashboard"]["version"],
                              "provisioned": False, "slug": uid}}

    def save_dashboard(self, body):
        dash = copy.deepcopy(body["dashboard"])
        uid = dash["uid"]
        if body.get("folderUid") not in self.folders:
            return 400, {"message": "folder not found"}
        old = self.dashboards.get(uid)
        if old and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
        dash["id"] = old["dashboard"]["id"] if old else self._next_id()
        dash["version"] = old["dashboard"]["version"] + 1 if old else 1
        self.dashboards[uid] = {"dashboard": dash, "folderUid": body["folderUid"]}
        return 200, {"id": dash["id"], "uid": uid, "url": f"/d/{uid}", "status": "success",
                     "version": dash["version"]}

    # ---------------------------------------------------------------------------------- alert rules
    def _store_rule(self, rule: dict) -> dict:
        stored = copy.deepcopy(rule)
        old = self.rules.get(rule["uid"])
        stored.update(id=old["id"] if old else self._next_id(), orgID=1, provenance="api",
                      updated="2026-11-22T15:00:00Z")
        self.rules[rule["uid"]] = stored
        return copy.deepcopy(stored)

    def get_rule(self, uid):
        if uid not in self.rules:
            return 404, {"message": "rule not found"}
        return 200, copy.deepcopy(self.rules[uid])

    def create_rule(self, body):
        if body["uid"] in self.rules:
            return 409, {"message": "rule with the same uid already exists"}
        if body.get("folderUID") not in self.folders:
            return 400, {"message": "folder does not exist"}
        key = (body["folderUID"], body["ruleGroup"])
        self.groups.setdefault(key, {"title": body["ruleGroup"], "folderUid": body["folderUID"], "interval": 60})
        return 201, self._store_rule(body)

    def update_rule(self, uid, body):
        if uid not in self.rules:
            return 404, {"message": "rule not found"}
        return 200, self._store_rule(dict(body, uid=uid))

    def get_group(self, folder_uid, name):
        group = self.groups.get((folder_uid, name))
        if group is None:
            return 404, {"message": "rule group not found"}
        rules = [copy.deepcopy(r) for r in self.rules.values()
                 if r["folderUID"] == folder_uid and r["ruleGroup"] == name]
        return 200, dict(copy.deepcopy(group), rules=rules)

    def put_group(self, folder_uid, name, body):
        if folder_uid not in self.folders:
            return 400, {"message": "folder does not exist"}
        self.groups[(folder_uid, name)] = {"title": name, "folderUid": folder_uid, "interval": body["interval"]}
        for rule in body.get("rules") or []:
            self._store_rule(dict(rule, folderUID=folder_uid, ruleGroup=name))
        return 200, self.get_group(folder_uid, name)[1]

    # ---------------------------------------------------------------------------------- contact points, policy
    def _redacted(self, cp: dict) -> dict:
        out = copy.deepcopy(cp)
        for key in SECURE_SETTINGS.get(cp["type"], set()):
            if out["settings"].get(key):
                out["settings"][key] = "[REDACTED]"
        return out

    def list_contact_points(self):
        return 200, [self._redacted(cp) for cp in self.contact_points.values()]

    def create_contact_point(self, body):
        if body["uid"] in self.contact_points:
            return 400, {"message": "contact point with the same uid already exists"}
        self.contact_points[body["uid"]] = dict(copy.deepcopy(body), provenance="api")
        return 202, self._redacted(self.contact_points[body["uid"]])

    def update_contact_point(self, uid, body):
        if uid not in self.contact_points:
            return 404, {"message": "contact point not found"}
        self.contact_points[uid] = dict(copy.deepcopy(body), provenance="api")
        return 202, {"message": "contactpoint updated"}

    def put_policy(self, body):
        names = {cp["name"] for cp in self.contact_points.values()} | {"grafana-default-email"}

        def receivers(route):
            yield route.get("receiver")
            for child in route.get("routes") or []:
                yield from receivers(child)

        unknown = {r for r in receivers(body) if r} - names
        if unknown:
            return 400, {"message": f"receiver {sorted(unknown)[0]} does not exist"}
        self.policy = dict(copy.deepcopy(body), provenance="api")
        return 202, {"message": "policies updated"}
