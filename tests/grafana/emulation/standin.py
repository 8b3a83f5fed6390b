"""A STAND-IN for Grafana's HTTP API (a mock: Grafana itself cannot run in this environment).

A small in-memory HTTP server on loopback, written from Grafana's HTTP API documentation (Grafana 11),
with the behaviour of Grafana's code where it decides what a client sees (checked against the
grafana/grafana sources of 11.0-12.x; see each method's comment):
  - provenance: objects written through the API get "api", or "" (none) when the request carries an
    `X-Disable-Provenance` header, whatever its value (pkg/services/ngalert/api/api_provisioning.go,
    determineProvenance); file-provisioned objects are "file" and refuse API changes
    (pkg/services/ngalert/provisioning/alert_rules.go UpdateAlertRule: 500 "cannot change provenance
    from 'file' to 'api'"; persistDelta + validation/provenance.go CanUpdateProvenanceInRuleGroup: 409);
  - stored queries are normalised: every query model gains intervalMs 1000 and maxDataPoints 43200
    when missing or 0 and is re-encoded with sorted keys (pkg/services/ngalert/models/alert_query.go,
    AlertQuery.PreSave / InitDefaults);
  - validation: a group interval must be a non-zero multiple of the 10 s base interval
    (models/alert_rule.go ValidateRuleGroupInterval, setting/setting_unified_alerting.go
    SchedulerBaseInterval); rule titles are unique per folder before 12.0 (store unique index,
    ErrAlertRuleUniqueConstraintViolation, removed by PR #102067); top-level folder titles are unique
    before 11.3 (dashboards/errors.go ErrFolderSameNameExists, index dropped by PR #90687).
Endpoints:
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
  - Folder list: GET /api/folders (top-level folders).
  - Authentication: a service-account token (Bearer) or basic auth; anything else is 401.
Every write is recorded in `writes` as (method, path) so tests can assert exactly what changed.
It does not model Grafana's permissions nor its parsing of query text and templates (the Go template
test parses those with Go's own text/template).
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
PROVENANCE_FILE, PROVENANCE_API, PROVENANCE_NONE = "file", "api", ""
BASE_INTERVAL_SECONDS = 10
# alert_query.go: defaultMaxDataPoints / defaultIntervalMS
DEFAULT_MAX_DATA_POINTS, DEFAULT_INTERVAL_MS = 43200, 1000


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("-")[0].split("."))


def normalise_query_model(model: dict) -> dict:
    """AlertQuery.PreSave -> InitDefaults/GetModel: defaults for missing or zero values, sorted keys."""
    out = dict(model)
    for key, default in (("maxDataPoints", DEFAULT_MAX_DATA_POINTS), ("intervalMs", DEFAULT_INTERVAL_MS)):
        value = out.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value == 0:
            out[key] = default
    return dict(sorted(out.items()))


class Refused(Exception):
    """A request Grafana answers with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GrafanaStandIn:
    def __init__(self, token: str = "sa-token", basic: tuple[str, str] = ("admin", "secret"),
                 version: str = "11.3.0") -> None:
        self.version = version
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
        self._provenance = PROVENANCE_API  # of the request being handled
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
                # determineProvenance: the header's presence decides, not its value.
                provenance = PROVENANCE_NONE if "X-Disable-Provenance" in self.headers else PROVENANCE_API
                with standin._lock:
                    if (method, path) in standin.failures:
                        return self._send(standin.failures[(method, path)], {"message": "injected failure"})
                    if method != "GET":
                        standin.writes.append((method, path))
                    standin._provenance = provenance
                    try:
                        status, answer = standin.route(method, path, body)
                    except Refused as exc:
                        status, answer = exc.status, {"message": exc.message}
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
            ("GET", r"/api/folders", self.list_folders),
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

    def list_folders(self):
        return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]

    def add_folder(self, uid: str, title: str) -> dict:
        """Folder creation as Grafana's folder service does it, for the API and file provisioning."""
        if uid in self.folders:
            raise Refused(409, "a folder with the same uid already exists")
        if version_tuple(self.version) < (11, 3) and any(f["title"] == title for f in self.folders.values()):
            raise Refused(409, "a folder or dashboard in the general folder with the same name already exists")
        folder = {"id": self._next_id(), "uid": uid, "title": title, "version": 1}
        self.folders[uid] = folder
        return folder

    def create_folder(self, body):
        return 200, copy.deepcopy(self.add_folder(body.get("uid"), body["title"]))

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
                              "provisioned": stored.get("provisioned", False), "slug": uid}}

    def save_dashboard(self, body):
        dash = copy.deepcopy(body["dashboard"])
        uid = dash["uid"]
        if body.get("folderUid") not in self.folders:
            return 400, {"message": "folder not found"}
        old = self.dashboards.get(uid)
        if old and old.get("provisioned"):
            # dashboards/service: a file-provisioned dashboard cannot be saved through the API.
            return 400, {"message": "Cannot save provisioned dashboard"}
        if old and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
        dash["id"] = old["dashboard"]["id"] if old else self._next_id()
        dash["version"] = old["dashboard"]["version"] + 1 if old else 1
        self.dashboards[uid] = {"dashboard": dash, "folderUid": body["folderUid"]}
        return 200, {"id": dash["id"], "uid": uid, "url": f"/d/{uid}", "status": "success",
                     "version": dash["version"]}

    # ---------------------------------------------------------------------------------- alert rules
    def store_rule(self, rule: dict, provenance: str) -> dict:
        """Save one rule as Grafana's store does: validate, normalise its queries, set provenance."""
        folder_uid, group = rule["folderUID"], rule["ruleGroup"]
        if version_tuple(self.version) < (12, 0):
            clash = [r for r in self.rules.values()
                     if r["folderUID"] == folder_uid and r["title"] == rule["title"] and r["uid"] != rule["uid"]]
            if clash:
                raise Refused(400, "[alerting.alert-rule.conflict] conflicting alert rule found: rule title "
                                   "under the same organisation and folder should be unique")
        stored = copy.deepcopy(rule)
        stored["data"] = [dict(q, model=normalise_query_model(q["model"])) for q in rule.get("data") or []]
        old = self.rules.get(rule["uid"])
        stored.update(id=old["id"] if old else self._next_id(), orgID=1, provenance=provenance,
                      updated="2026-11-22T15:00:00Z")
        self.rules[rule["uid"]] = stored
        self.groups.setdefault((folder_uid, group), {"title": group, "folderUid": folder_uid, "interval": 60})
        return copy.deepcopy(stored)

    def _check_interval(self, interval) -> None:
        if not isinstance(interval, int) or interval <= 0 or interval % BASE_INTERVAL_SECONDS:
            raise Refused(400, f"invalid rule group: interval ({interval}s) should be non-zero and divided "
                               f"exactly by scheduler interval: {BASE_INTERVAL_SECONDS}s")

    def get_rule(self, uid):
        if uid not in self.rules:
            return 404, {"message": "rule not found"}
        return 200, copy.deepcopy(self.rules[uid])

    def create_rule(self, body):
        if body["uid"] in self.rules:
            return 409, {"message": "rule with the same uid already exists"}
        if body.get("folderUID") not in self.folders:
            return 400, {"message": "folder does not exist"}
        return 201, self.store_rule(body, self._provenance)

    def update_rule(self, uid, body):
        """UpdateAlertRule: the stored provenance must equal the request's, unless it is none."""
        if uid not in self.rules:
            return 404, {"message": "rule not found"}
        stored = self.rules[uid]["provenance"]
        if stored != self._provenance and stored != PROVENANCE_NONE:
            raise Refused(500, f"cannot change provenance from '{stored}' to '{self._provenance}'")
        return 200, self.store_rule(dict(body, uid=uid), self._provenance)

    def get_group(self, folder_uid, name):
        group = self.groups.get((folder_uid, name))
        if group is None:
            return 404, {"message": "rule group not found"}
        rules = [copy.deepcopy(r) for r in self.rules.values()
                 if r["folderUID"] == folder_uid and r["ruleGroup"] == name]
        return 200, dict(copy.deepcopy(group), rules=rules)

    def put_group(self, folder_uid, name, body):
        """ReplaceRuleGroup: interval validated; each updated rule's provenance checked
        (CanUpdateProvenanceInRuleGroup: same, from none, or api -> none)."""
        if folder_uid not in self.folders:
            return 400, {"message": "folder does not exist"}
        self._check_interval(body["interval"])
        provided = self._provenance
        for rule in body.get("rules") or []:
            old = self.rules.get(rule.get("uid"))
            if old is not None:
                stored = old["provenance"]
                if not (stored == provided or stored == PROVENANCE_NONE
                        or (stored == PROVENANCE_API and provided == PROVENANCE_NONE)):
                    raise Refused(409, f"cannot update with provided provenance '{provided}', needs '{stored}'")
        self.groups[(folder_uid, name)] = {"title": name, "folderUid": folder_uid, "interval": body["interval"]}
        for rule in body.get("rules") or []:
            self.store_rule(dict(rule, folderUID=folder_uid, ruleGroup=name), provided)
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
        self.contact_points[body["uid"]] = dict(copy.deepcopy(body), provenance=self._provenance)
        return 202, self._redacted(self.contact_points[body["uid"]])

    def update_contact_point(self, uid, body):
        """ContactPointService.UpdateContactPoint: the same strict provenance check as a rule's."""
        if uid not in self.contact_points:
            return 404, {"message": "contact point not found"}
        stored = self.contact_points[uid]["provenance"]
        if stored != self._provenance and stored != PROVENANCE_NONE:
            raise Refused(500, f"cannot change provenance from '{stored}' to '{self._provenance}'")
        self.contact_points[uid] = dict(copy.deepcopy(body), provenance=self._provenance)
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
        # ValidateProvenanceRelaxed: anything may become api/file, nothing may become none.
        stored = self.policy.get("provenance", PROVENANCE_NONE)
        if self._provenance == PROVENANCE_NONE and stored != PROVENANCE_NONE:
            raise Refused(403, f"cannot change provenance from '{stored}' to ''")
        self.policy = dict(copy.deepcopy(body), provenance=self._provenance)
        return 202, {"message": "policies updated"}
