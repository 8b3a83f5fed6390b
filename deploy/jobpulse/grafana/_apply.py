"""Upserts the bundle into a Grafana through its HTTP API, writing only what differs.

Writing only what changed is not a nicety: a PUT of an alert rule resets its alert instances (a firing
job_failed would resolve and fire again: a second page), and re-saving a dashboard bumps its version.
So every object is read first and compared with what the files say; only a difference is written.

Secrets cannot be compared (Grafana never returns them: datasources report `secureJsonFields`, contact
points return "[REDACTED]"), so a secret alone never triggers a write; it is sent along whenever the
object is created or written for another reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaTimeoutError

from ._errors import GrafanaAuthError, GrafanaError, GrafanaUnreachable
from ._files import Bundle

REDACTED = "[REDACTED]"
# The UID of the folder when this command creates it (file provisioning lets Grafana choose one).
FOLDER_UID = "jobpulse"
# Grafana refuses API writes over objects it provisioned from files (ngalert/provisioning
# alert_rules.go UpdateAlertRule / persistDelta: "cannot change provenance from 'file' to 'api'").
FILE_PROVENANCE = "file"
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(value: Any) -> float:
    """'1m30s' / '10s' / 10 -> seconds (Grafana's API and files spell durations differently)."""
    if value in (None, ""):
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    parts = _DURATION.findall(str(value))
    if not parts or "".join(n + u for n, u in parts) != str(value):
        raise ValueError(f"not a duration: {value!r}")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


@dataclass(frozen=True)
class Change:
    kind: str      # "datasource", "folder", "dashboard", "alert rule", ...
    name: str
    action: str    # "create" | "update"
    detail: str = ""


def _subset(wanted: Any, actual: Any) -> bool:
    """True when every key of `wanted` is in `actual` with an equal value (recursively).

    Grafana may add defaults to what it stores (ids, versions, empty settings); those are not ours to
    compare. Lists must match element by element.
    """
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(v, actual[k]) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(wanted) == len(actual) and all(
            _subset(w, a) for w, a in zip(wanted, actual))
    if isinstance(wanted, (int, float)) and isinstance(actual, (int, float)) and not isinstance(wanted, bool):
        return float(wanted) == float(actual)
    return wanted == actual


def _differing(wanted: dict, actual: dict, keys) -> list[str]:
    return [k for k in keys if k in wanted and not _subset(wanted[k], actual.get(k))]


class Provisioner:
    """Compares and writes; `say` gets one plain line per object."""

    def __init__(self, api: GrafanaApi, say: Callable[[str], None] = print, dry_run: bool = False) -> None:
        self.api = api
        self.say = say
        self.dry_run = dry_run
        self.changes: list[Change] = []

    # -- plumbing -------------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, missing_ok: bool = False, **kwargs):
        """One API call with Grafana's and niquests' errors mapped onto our tree."""
        try:
            return fn(*args, **kwargs)
        except GrafanaClientError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            if exc.status_code in (401, 403):
                raise GrafanaAuthError(f"{what}: Grafana refused the credentials ({exc.status_code})",
                                       exc.status_code) from exc
            raise GrafanaError(f"{what}: {_one_line(exc.message)}", exc.status_code) from exc
        except GrafanaTimeoutError as exc:
            raise GrafanaUnreachable(f"{what}: Grafana did not answer in time") from exc
        except GrafanaException as exc:
            if exc.status_code:
                raise GrafanaError(f"{what}: {_one_line(exc.message)}", exc.status_code) from exc
            raise GrafanaUnreachable(f"{what}: {_one_line(exc.message)}") from exc
        except niquests.exceptions.RequestException as exc:
            raise GrafanaUnreachable(f"{what}: cannot reach Grafana ({_one_line(str(exc))})") from exc
        except ValueError as exc:  # a non-JSON answer: not a Grafana API (wrong URL?)
            raise GrafanaError(f"{what}: the answer is not Grafana's API JSON (wrong --url?)") from exc

    def _record(self, kind: str, name: str, action: str, detail: str = "") -> bool:
        """Report a change; True when it should really be written."""
        self.changes.append(Change(kind, name, action, detail))
        verb = {"create": "created", "update": "updated"}[action]
        if self.dry_run:
            verb = f"would be {verb}"
        self.say(f"{kind} {name}: {verb}" + (f" ({detail})" if detail else ""))
        return not self.dry_run

    def _unchanged(self, kind: str, name: str) -> None:
        self.say(f"{kind} {name}: unchanged")

    # -- objects --------------------------------------------------------------------------------
    def apply(self, bundle: Bundle) -> list[Change]:
        for datasource in bundle.datasources:
            self.datasource(datasource)
        folder_uid = self.folder(bundle.folder_title)
        for dashboard in bundle.dashboards:
            self.dashboard(dashboard, folder_uid)
        if bundle.contact_points:
            existing = self._call("contact points", self.api.alertingprovisioning.get_contactpoints) or []
            by_uid = {c.get("uid"): c for c in existing}
            for contact_point in bundle.contact_points:
                for receiver in contact_point.get("receivers") or []:
                    self.contact_point(contact_point["name"], receiver, by_uid.get(receiver["uid"]))
        if bundle.policies is not None:
            self.policies(bundle.policies)
        for group in bundle.rule_groups:
            self.rule_group(group, folder_uid)
        return self.changes

    def datasource(self, spec: dict) -> None:
        uid = spec["uid"]
        wanted = {k: v for k, v in spec.items() if k not in ("orgId", "editable", "version")}
        wanted.setdefault("access", "proxy")
        current = self._call(f"datasource {uid}", self.api.datasource.get_datasource_by_uid, uid, missing_ok=True)
        if current is None:
            if self._record("datasource", uid, "create"):
                self._call(f"datasource {uid}", self.api.datasource.create_datasource, wanted)
            return
        plain = {k: v for k, v in wanted.items() if k != "secureJsonData"}
        diff = _differing(plain, current, plain.keys())
        secrets = [k for k, v in (wanted.get("secureJsonData") or {}).items()
                   if v and not (current.get("secureJsonFields") or {}).get(k)]
        if secrets:
            diff.append("secureJsonData." + ",".join(secrets))
        if not diff:
            return self._unchanged("datasource", uid)
        if self._record("datasource", uid, "update", ", ".join(diff)):
            body = dict(wanted, id=current.get("id"), version=current.get("version"))
            self._call(f"datasource {uid}", self.api.datasource.update_datasource_by_uid, uid, body)

    def folder(self, title: str) -> str:
        """The UID of the top-level folder titled `title`, created when missing.

        By title, as Grafana's file provisioning finds the rules' and the dashboards' folder: a
        Grafana that loaded the files has the folder under a generated UID, and it is that folder
        (not a second one of the same title) that the objects must land in."""
        folders = self._call("folders", self.api.folder.get_all_folders) or []
        same = [f for f in folders if f.get("title") == title and not f.get("parentUid")]
        if len(same) > 1:
            raise GrafanaError(f"folder {title!r}: {len(same)} top-level folders have this title "
                               f"({', '.join(sorted(f['uid'] for f in same))}); keep one")
        if same:
            self._unchanged("folder", title)
            return same[0]["uid"]
        if self._record("folder", title, "create", f"uid {FOLDER_UID}"):
            self._call(f"folder {title}", self.api.folder.create_folder, title, uid=FOLDER_UID)
        return FOLDER_UID

    def dashboard(self, spec: dict, folder_uid: str) -> None:
        uid = spec["uid"]
        wanted = {k: v for k, v in spec.items() if k not in ("id", "version")}
        current = self._call(f"dashboard {uid}", self.api.dashboard.get_dashboard, uid, missing_ok=True)
        if current is None:
            action, detail = "create", ""
        else:
            stored = {k: v for k, v in (current.get("dashboard") or {}).items() if k not in ("id", "version")}
            diff = sorted(k for k in set(wanted) | set(stored) if wanted.get(k) != stored.get(k))
            if (current.get("meta") or {}).get("folderUid") != folder_uid:
                diff.append("folder")
            if not diff:
                return self._unchanged("dashboard", uid)
            action, detail = "update", ", ".join(diff)
        if self._record("dashboard", uid, action, detail):
            body = {"dashboard": dict(wanted, id=None), "folderUid": folder_uid, "overwrite": True,
                    "message": "provisioned by jobpulse-grafana"}
            self._call(f"dashboard {uid}", self.api.dashboard.update_dashboard, body)

    def contact_point(self, name: str, receiver: dict, current: dict | None) -> None:
        """One receiver (the API's unit); `current` is Grafana's copy, secrets shown as [REDACTED]."""
        uid = receiver["uid"]
        wanted = {"uid": uid, "name": name, "type": receiver["type"],
                  "settings": receiver.get("settings") or {},
                  "disableResolveMessage": bool(receiver.get("disableResolveMessage", False))}
        self._refuse_file_provisioned("contact point", uid, [current] if current else [])
        if current is None:
            if self._record("contact point", uid, "create"):
                self._call(f"contact point {uid}", self.api.alertingprovisioning.create_contactpoint, wanted)
            return
        diff = _differing(wanted, current, ("name", "type", "disableResolveMessage"))
        stored = current.get("settings") or {}
        for key, value in wanted["settings"].items():
            if stored.get(key) != REDACTED and stored.get(key) != value:
                diff.append(f"settings.{key}")
        if not diff:
            return self._unchanged("contact point", uid)
        if self._record("contact point", uid, "update", ", ".join(diff)):
            self._call(f"contact point {uid}", self.api.alertingprovisioning.update_contactpoint, uid, wanted)

    def _refuse_file_provisioned(self, kind: str, name: str, stored) -> None:
        if any((s or {}).get("provenance") == FILE_PROVENANCE for s in stored):
            raise GrafanaError(
                f"{kind} {name}: Grafana loaded it from provisioning files, and refuses API changes to it; "
                "use one loading path per Grafana (files or this command)")

    def policies(self, spec: dict) -> None:
        wanted = _route({k: v for k, v in spec.items() if k != "orgId"})
        current = self._call("notification policies", self.api.alertingprovisioning.get_notification_policy_tree)
        if _route(current or {}) == wanted:
            return self._unchanged("notification policy", "tree")
        if self._record("notification policy", "tree", "update"):
            self._call("notification policies", self.api.alertingprovisioning.set_notification_policy_tree,
                       _route_body(spec))

    def rule_group(self, group: dict, folder_uid: str) -> None:
        name = group["name"]
        interval = int(duration_seconds(group.get("interval", "1m")))
        rules = [_rule_body(rule, folder_uid, name, group.get("orgId", 1)) for rule in group.get("rules") or []]
        prov = self.api.alertingprovisioning
        current = self._call(f"rule group {name}", prov.get_rule_group, folder_uid, name, missing_ok=True)
        if current is None:
            # One PUT creates the group with its interval and all its rules.
            for rule in rules:
                self._record("alert rule", rule["uid"], "create")
            if self._record("rule group", name, "create", f"interval {interval}s"):
                body = {"title": name, "folderUid": folder_uid, "interval": interval, "rules": rules}
                self._call(f"rule group {name}", prov.update_rule_group, folder_uid, name, body)
            return
        by_uid = {r.get("uid"): r for r in current.get("rules") or []}
        self._refuse_file_provisioned("rule group", name, by_uid.values())
        for rule in rules:
            uid = rule["uid"]
            stored = by_uid.pop(uid, None)
            if stored is None:
                if self._record("alert rule", uid, "create"):
                    self._call(f"alert rule {uid}", prov.create_alertrule, rule)
                continue
            diff = _rule_diff(rule, stored)
            if not diff:
                self._unchanged("alert rule", uid)
            elif self._record("alert rule", uid, "update", ", ".join(diff)):
                self._call(f"alert rule {uid}", prov.update_alertrule, uid, rule)
        for uid in by_uid:
            self.say(f"alert rule {uid}: in Grafana but not in the files (left alone)")
        if int(duration_seconds(current.get("interval"))) != interval:
            if self._record("rule group", name, "update", f"interval {interval}s"):
                fresh = self._call(f"rule group {name}", prov.get_rule_group, folder_uid, name)
                body = dict(fresh, interval=interval)
                self._call(f"rule group {name}", prov.update_rule_group, folder_uid, name, body)
        else:
            self._unchanged("rule group", name)


_RULE_KEYS = ("title", "condition", "data", "noDataState", "execErrState", "for", "labels", "annotations",
              "isPaused", "folderUID", "ruleGroup")


def _rule_body(rule: dict, folder_uid: str, group: str, org_id: int) -> dict:
    """A rule of the file format as the provisioning API's ProvisionedAlertRule."""
    body = {k: rule[k] for k in _RULE_KEYS if k in rule}
    body.update(uid=rule["uid"], folderUID=folder_uid, ruleGroup=group, orgID=org_id)
    body.setdefault("for", "0s")
    body.setdefault("isPaused", False)
    body.setdefault("labels", {})
    body.setdefault("annotations", {})
    return body


def _rule_diff(wanted: dict, stored: dict) -> list[str]:
    diff = []
    for key in _RULE_KEYS:
        if key == "for":
            if duration_seconds(wanted.get("for")) != duration_seconds(stored.get("for")):
                diff.append("for")
        elif key in ("labels", "annotations"):
            if (wanted.get(key) or {}) != (stored.get(key) or {}):
                diff.append(key)
        elif not _subset(wanted.get(key), stored.get(key)):
            diff.append(key)
    return diff


_ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")


def _route(route: dict) -> dict:
    """A policy route normalised for comparison (durations in seconds, no provenance, no empty keys)."""
    out: dict = {}
    for key, value in route.items():
        if key in ("provenance", "orgId") or value in (None, [], {}, "", False):
            continue
        if key in _ROUTE_DURATIONS:
            out[key] = duration_seconds(value)
        elif key == "routes":
            out[key] = [_route(child) for child in value]
        elif key == "object_matchers":
            out[key] = [list(m) for m in value]
        else:
            out[key] = value
    return out


def _route_body(route: dict) -> dict:
    body = {k: v for k, v in route.items() if k != "orgId"}
    if "routes" in body:
        body["routes"] = [_route_body(child) for child in body["routes"]]
    if "object_matchers" in body:
        body["object_matchers"] = [list(m) for m in body["object_matchers"]]
    return body


def _one_line(message: Any) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else "no message"
