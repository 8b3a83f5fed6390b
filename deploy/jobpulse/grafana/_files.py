"""Reads the provisioning files exactly as Grafana's file provisioning would see them.

One source of truth: `jobpulse-grafana apply` and Grafana's own file provisioning read the same
dashboards/ and alerts/ files, and each field is interpolated the way Grafana interpolates it
(pkg/services/provisioning/values/values.go, interpolateValue: split on `$$`, then os.ExpandEnv on
each part, joined with `$`; so `${VAR}` and `$VAR` expand and `$$` is a literal `$`):
- datasource and dashboard-provider files: every string value;
- alert rule groups: group name, folder, interval and each rule's scalars and labels, but NOT its
  annotations nor its query models, which Grafana hands over raw (alerting/rules_types.go,
  AlertRuleV1.mapToModel: `Annotations.Raw`, `Model.Raw`);
- contact points and notification policies: every string value;
- dashboard JSON: nothing (dashboards/file_reader.go reads it as it is).
An unset variable becomes the empty string in Grafana; here it is an error, because an empty URL or
password provisioned silently is worse than a refusal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ._errors import FilesError

# Go's os.Expand (os/env.go getShellName): ${c} for one special character, ${name} up to the first
# "}", a lone "${" (eaten), $c for one special character, or $name over letters, digits and "_"
# (an empty name leaves the "$" as it is).
_SPECIAL = r"[*#$@!?\-0-9]"
_VARIABLE = re.compile(r"\$(?:\{(" + _SPECIAL + r")\}|\{([^}]*)\}|(\{)|(" + _SPECIAL + r")|([A-Za-z0-9_]*))")
# Optional: only read when this variable is set (Grafana refuses to start on a PagerDuty contact
# point whose key is empty, so the pager's files are loaded only where there is a key).
PAGERDUTY_DIR = "pagerduty"
PAGERDUTY_KEY = "JOBPULSE_PAGERDUTY_KEY"
# A rule's fields that Grafana passes through unexpanded.
_RAW_RULE_FIELDS = ("annotations", "data")


def expand(text: str, environ: Mapping[str, str], missing: set[str] | None = None) -> str:
    """Expand one string the way Grafana's provisioning does; names not in `environ` go to `missing`."""

    def lookup(match: re.Match[str]) -> str:
        braced_special, braced, unclosed, special, bare = match.groups()
        if unclosed is not None:
            return ""
        name = next(n for n in (braced_special, braced, special, bare) if n is not None)
        if bare == "":
            return "$"
        if name and name not in environ and missing is not None:
            missing.add(name)
        return environ.get(name, "") if name else ""

    return "$".join(_VARIABLE.sub(lookup, part) for part in text.split("$$"))


def expand_tree(value: Any, environ: Mapping[str, str], missing: set[str] | None = None) -> Any:
    """expand() applied to every string (values, not keys) of a parsed YAML document."""
    if isinstance(value, str):
        return expand(value, environ, missing)
    if isinstance(value, list):
        return [expand_tree(item, environ, missing) for item in value]
    if isinstance(value, dict):
        return {key: expand_tree(item, environ, missing) for key, item in value.items()}
    return value


def expand_rule_group(group: dict, environ: Mapping[str, str], missing: set[str] | None = None) -> dict:
    """A rule group as Grafana's alerting file provisioning maps it: annotations and query models raw."""
    out = expand_tree({k: v for k, v in group.items() if k != "rules"}, environ, missing)
    out["rules"] = []
    for rule in group.get("rules") or []:
        expanded = expand_tree({k: v for k, v in rule.items() if k not in _RAW_RULE_FIELDS}, environ, missing)
        if "annotations" in rule:
            expanded["annotations"] = rule["annotations"]
        if "data" in rule:
            # The query's own scalars are expanded; its model is not (a $__timeFilter must survive).
            expanded["data"] = [
                dict(expand_tree({k: v for k, v in q.items() if k != "model"}, environ, missing), model=q["model"])
                for q in rule["data"]
            ]
        out["rules"].append(expanded)
    return out


@dataclass(frozen=True)
class Bundle:
    """Everything to provision, already environment-expanded."""

    datasources: tuple[dict, ...]
    folder_title: str
    dashboards: tuple[dict, ...]
    rule_groups: tuple[dict, ...]
    contact_points: tuple[dict, ...]
    policies: dict | None
    sources: tuple[str, ...] = field(default=())


def load_yaml(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FilesError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise FilesError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(document, dict) or document.get("apiVersion") != 1:
        raise FilesError(f"{path} is not a Grafana provisioning file (apiVersion 1 expected)")
    return document


def load_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FilesError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise FilesError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(document, dict) or not document.get("uid"):
        raise FilesError(f"{path} is not a dashboard (no uid)")
    return document


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def datasources_dir(dashboards_dir: Path, influxdb: int) -> Path:
    """The datasource files for one InfluxDB major version (they differ only in how InfluxDB is reached)."""
    return dashboards_dir / "provisioning" / ("datasources-influxdb2" if influxdb == 2 else "datasources")


def load_bundle(dashboards_dir: Path, alerts_dir: Path, environ: Mapping[str, str], influxdb: int = 2) -> Bundle:
    """Read dashboards/ (the datasources of InfluxDB ``influxdb``, provisioning/dashboards, json/) and alerts/."""
    missing: set[str] = set()
    sources: list[str] = []
    for directory in (dashboards_dir, alerts_dir):
        if not directory.is_dir():
            raise FilesError(f"no such directory: {directory}")

    datasources: list[dict] = []
    for path in _yaml_files(datasources_dir(dashboards_dir, influxdb)):
        sources.append(str(path))
        datasources += expand_tree(load_yaml(path).get("datasources") or [], environ, missing)

    folder_title = None
    for path in _yaml_files(dashboards_dir / "provisioning" / "dashboards"):
        sources.append(str(path))
        # The provider's options.path is where the Grafana *server* finds the JSON; we read json/ here.
        raw = load_yaml(path)
        for provider in raw.get("providers") or []:
            folder_title = folder_title or provider.get("folder")
    if not folder_title:
        raise FilesError(f"no dashboard provider with a folder under {dashboards_dir / 'provisioning'}")

    dashboards = []
    for path in sorted((dashboards_dir / "json").glob("*.json")):
        sources.append(str(path))
        dashboards.append(load_json(path))  # Grafana does not interpolate dashboard JSON

    rule_groups: list[dict] = []
    contact_points: list[dict] = []
    policies = None
    for path in alert_files(alerts_dir, pager=bool(environ.get(PAGERDUTY_KEY))):
        sources.append(str(path))
        raw = load_yaml(path)
        rule_groups += [expand_rule_group(g, environ, missing) for g in raw.get("groups") or []]
        contact_points += expand_tree(raw.get("contactPoints") or [], environ, missing)
        for tree in expand_tree(raw.get("policies") or [], environ, missing):
            if policies is not None:
                raise FilesError(f"{path}: a second notification policy tree (only one per organisation)")
            policies = tree

    if missing:
        raise FilesError("environment variable(s) not set: " + ", ".join(sorted(missing)))
    for group in rule_groups:
        if group.get("folder") != folder_title:
            raise FilesError(
                f"rule group {group.get('name')!r} is in folder {group.get('folder')!r}, "
                f"the dashboards in {folder_title!r}: use one folder")
    return Bundle(tuple(datasources), folder_title, tuple(dashboards), tuple(rule_groups),
                  tuple(contact_points), policies, tuple(sources))


def alert_files(alerts_dir: Path, *, pager: bool) -> list[Path]:
    """The alerting files one Grafana is given: alerts/*.yaml, with alerts/pagerduty/*.yaml instead
    of the hub-only policies.yaml where PagerDuty is configured."""
    files = _yaml_files(alerts_dir)
    if pager:
        files = [p for p in files if p.name != "policies.yaml"] + _yaml_files(alerts_dir / PAGERDUTY_DIR)
    return files
