"""Grafana's file provisioning at start-up, applied to a GrafanaStandIn's state.

Follows grafana/grafana 11.0-12.x:
* order: datasources, then alerting, then dashboards (pkg/services/provisioning/provisioning.go,
  ``RunInitProvisioners`` then ``Run`` up to 11.5; the dskit ``starting()`` from 11.6.3/12.0.2 keeps
  the order). An alerting error stops Grafana from starting; a dashboard folder error
  (``ErrGetOrCreateFolder``) only skips that provider's dashboards.
* alerting files (provisioning/alerting/config_reader.go, then the provisioners): every contact point
  is validated while the files are read, before anything is applied (contact_point_types.go
  ``ReceiverV1.mapToModel`` -> ngalert/provisioning ``ValidateContactPoint``: a webhook without url is
  "required field 'url' is not specified", a PagerDuty integration without key "could not find
  integration key property in settings"); a rule group's ``folder`` is a title, found among the
  top-level folders or created with a generated UID (rules_provisioner.go
  ``getOrCreateFolderByTitle``); rules, contact points and the policy tree are stored with
  provenance "file".
* dashboard providers (provisioning/dashboards/file_reader.go ``getOrCreateFolder``): with a
  ``folderUid``, the folder is looked up by that UID only, otherwise by title; when not found it is
  created (folderUid, folder) - which fails on a duplicate title before 11.3 and makes a second folder
  from 11.3 on (PR #90687). Dashboard JSON is stored as read, marked provisioned.
Interpolation of each field: :mod:`interpolation`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path

import yaml

from . import interpolation
from .macros import seconds
from .standin import PROVENANCE_FILE, GrafanaStandIn, Refused, version_tuple

REQUIRED_SETTINGS = {"webhook": ("url", "required field 'url' is not specified"),
                     "pagerduty": ("integrationKey", "could not find integration key property in settings")}


class StartupFailed(Exception):
    """Grafana refuses to start (a provisioning error it does not tolerate)."""


def _documents(paths: list[Path]) -> list[dict]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]


def provision(grafana: GrafanaStandIn, *, datasources: list[Path], dashboard_providers: list[Path],
              alerting: list[Path], environ: Mapping[str, str]) -> list[str]:
    """Start Grafana on these provisioning files; returns the errors it logged but survived."""
    logged: list[str] = []
    for doc in _documents(datasources):
        for ds in interpolation.interpolate(doc.get("datasources") or [], environ):
            grafana.datasources[ds["uid"]] = dict(ds, id=grafana._next_id(), version=1, orgId=1, readOnly=True)

    docs = _documents(alerting)
    contact_points = [interpolation.interpolate(cp, environ) for d in docs for cp in d.get("contactPoints") or []]
    for cp in contact_points:
        for receiver in cp.get("receivers") or []:
            required = REQUIRED_SETTINGS.get(receiver["type"])
            if required and not (receiver.get("settings") or {}).get(required[0]):
                raise StartupFailed(f"failure parsing contact points: {required[1]}")
    groups = [interpolation.rule_group(g, environ) for d in docs for g in d.get("groups") or []]
    policies = [interpolation.interpolate(p, environ) for d in docs for p in d.get("policies") or []]
    try:
        for cp in contact_points:
            for receiver in cp["receivers"]:
                grafana.contact_points[receiver["uid"]] = {
                    "uid": receiver["uid"], "name": cp["name"], "type": receiver["type"],
                    "settings": receiver.get("settings") or {},
                    "disableResolveMessage": bool(receiver.get("disableResolveMessage", False)),
                    "provenance": PROVENANCE_FILE}
        for tree in policies:
            grafana.policy = dict({k: v for k, v in tree.items() if k != "orgId"}, provenance=PROVENANCE_FILE)
        for group in groups:
            folder_uid = _folder_by_title(grafana, group["folder"])
            interval = int(seconds(group["interval"]))
            grafana._check_interval(interval)
            for rule in group["rules"]:
                body = {k: v for k, v in rule.items()}
                body.update(folderUID=folder_uid, ruleGroup=group["name"])
                grafana.store_rule(body, PROVENANCE_FILE)
            grafana.groups[(folder_uid, group["name"])] = {"title": group["name"], "folderUid": folder_uid,
                                                           "interval": interval}
    except Refused as exc:
        raise StartupFailed(f"alerting provisioning: {exc.message}") from exc

    for doc in _documents(dashboard_providers):
        for provider in interpolation.interpolate(doc.get("providers") or [], environ):
            try:
                folder_uid = _provider_folder(grafana, provider)
            except Refused as exc:
                logged.append(f"failed to get or create folder for provider {provider['name']}: {exc.message}")
                continue
            for path in sorted(Path(provider["options"]["path"]).glob("*.json")):
                dashboard = json.loads(path.read_text(encoding="utf-8"))
                dashboard.update(id=grafana._next_id(), version=1)
                grafana.dashboards[dashboard["uid"]] = {"dashboard": dashboard, "folderUid": folder_uid,
                                                        "provisioned": True}
    return logged


def _folder_by_title(grafana: GrafanaStandIn, title: str) -> str:
    for folder in grafana.folders.values():
        if folder["title"] == title:
            return folder["uid"]
    return grafana.add_folder(secrets.token_hex(7), title)["uid"]  # util.GenerateShortUID


def _provider_folder(grafana: GrafanaStandIn, provider: dict) -> str | None:
    title, uid = provider.get("folder"), provider.get("folderUid")
    if not title:
        return None  # the General folder
    if uid:
        if uid in grafana.folders:
            return uid
    else:
        for folder in grafana.folders.values():
            if folder["title"] == title:
                return folder["uid"]
    return grafana.add_folder(uid or secrets.token_hex(7), title)["uid"]


def supported_versions() -> list[str]:
    """The Grafana lines whose differences the emulation knows (folder title uniqueness, rule titles)."""
    versions = ["11.0.0", "11.2.0", "11.3.0", "12.0.0"]
    assert all(version_tuple(v) for v in versions)
    return versions
