"""Reads the provisioning files exactly as Grafana's file provisioning would see them.

One source of truth: `jobpulse-grafana apply` and Grafana's own file provisioning read the same
dashboards/ and alerts/ files. Grafana expands environment variables in the string values of its
provisioning YAML (not in the dashboard JSON files): `${VAR}` and `$VAR` become the variable's value and
`$$` stands for a literal `$` (Grafana splits on `$$` and expands each part). An unset variable becomes
the empty string in Grafana; here it is an error, because an empty URL or password provisioned
silently is worse than a refusal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ._errors import FilesError

# os.Expand's syntax: ${name} or $name (name = letters, digits, underscore).
_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))")


def expand(text: str, environ: Mapping[str, str], missing: set[str] | None = None) -> str:
    """Expand one string the way Grafana's provisioning does; names not in `environ` go to `missing`."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name not in environ and missing is not None:
            missing.add(name)
        return environ.get(name, "")

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


@dataclass(frozen=True)
class Bundle:
    """Everything to provision, already environment-expanded."""

    datasources: tuple[dict, ...]
    folder_uid: str
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


def load_bundle(dashboards_dir: Path, alerts_dir: Path, environ: Mapping[str, str]) -> Bundle:
    """Read dashboards/ (provisioning/datasources, provisioning/dashboards, json/) and alerts/."""
    missing: set[str] = set()
    sources: list[str] = []
    for directory in (dashboards_dir, alerts_dir):
        if not directory.is_dir():
            raise FilesError(f"no such directory: {directory}")

    datasources: list[dict] = []
    for path in _yaml_files(dashboards_dir / "provisioning" / "datasources"):
        sources.append(str(path))
        datasources += expand_tree(load_yaml(path).get("datasources") or [], environ, missing)

    folder_uid = folder_title = None
    for path in _yaml_files(dashboards_dir / "provisioning" / "dashboards"):
        sources.append(str(path))
        # The provider's options.path is where the Grafana *server* finds the JSON; we read json/ here.
        raw = load_yaml(path)
        for provider in raw.get("providers") or []:
            folder_uid = folder_uid or provider.get("folderUid")
            folder_title = folder_title or provider.get("folder")
    if not folder_uid or not folder_title:
        raise FilesError(f"no dashboard provider with folder and folderUid under {dashboards_dir / 'provisioning'}")

    dashboards = []
    for path in sorted((dashboards_dir / "json").glob("*.json")):
        sources.append(str(path))
        dashboards.append(load_json(path))  # Grafana does not interpolate dashboard JSON

    rule_groups: list[dict] = []
    contact_points: list[dict] = []
    policies = None
    for path in _yaml_files(alerts_dir):
        sources.append(str(path))
        raw = load_yaml(path)
        rule_groups += expand_tree(raw.get("groups") or [], environ, missing)
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
    return Bundle(tuple(datasources), folder_uid, folder_title, tuple(dashboards), tuple(rule_groups),
                  tuple(contact_points), policies, tuple(sources))
