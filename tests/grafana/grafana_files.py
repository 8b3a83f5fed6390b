"""Test helper: the Grafana files of the repository and every query in them, enumerated once.

Used by the structure tests (every query is checked against the telemetry contract) and by the e2e
tests (every query runs against the real InfluxDB / MariaDB): a panel added to a dashboard is covered by
both without editing a test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = ROOT / "dashboards"
ALERTS_DIR = ROOT / "alerts"
DASHBOARD_FILES = sorted((DASHBOARDS_DIR / "json").glob("*.json"))
DATASOURCES_FILE = DASHBOARDS_DIR / "provisioning" / "datasources" / "jobpulse.yaml"
# The InfluxDB 2.x variant: the same datasources, InfluxDB reached with a token header.
DATASOURCES_FILE_INFLUXDB2 = DASHBOARDS_DIR / "provisioning" / "datasources-influxdb2" / "jobpulse.yaml"
PROVIDER_FILE = DASHBOARDS_DIR / "provisioning" / "dashboards" / "jobpulse.yaml"
RULES_FILE = ALERTS_DIR / "rules.yaml"
CONTACT_POINTS_FILE = ALERTS_DIR / "contact-points.yaml"
POLICIES_FILE = ALERTS_DIR / "policies.yaml"
PAGERDUTY_DIR = ALERTS_DIR / "pagerduty"
PAGER_CONTACT_POINTS_FILE = PAGERDUTY_DIR / "contact-points.yaml"
PAGER_POLICIES_FILE = PAGERDUTY_DIR / "policies.yaml"
ALERT_FILES = sorted(ALERTS_DIR.glob("*.yaml")) + sorted(PAGERDUTY_DIR.glob("*.yaml"))

INFLUX_UID = "jobpulse-influxdb"
MYSQL_UID = "jobpulse-mysql"


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def dashboards() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARD_FILES]


def dashboard(uid: str) -> dict:
    return next(d for d in dashboards() if d["uid"] == uid)


def rules() -> list[dict]:
    return [rule for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]


@dataclass(frozen=True)
class Query:
    """One query as Grafana would send it: where it lives, which datasource, the raw text."""

    where: str              # "dashboard-uid / panel title / refId" or "rule uid / refId"
    datasource_uid: str
    text: str
    fmt: str                # "time_series" | "table"
    dashboard_uid: str | None = None
    panel: dict | None = None

    @property
    def is_influx(self) -> bool:
        return self.datasource_uid == INFLUX_UID


def _target_query(target: dict, default_ds: dict) -> tuple[str, str, str]:
    ds = (target.get("datasource") or default_ds or {}).get("uid")
    if ds == INFLUX_UID:
        return ds, target["query"], target.get("resultFormat", "time_series")
    return ds, target["rawSql"], target.get("format", "time_series")


def panel_queries() -> list[Query]:
    out = []
    for d in dashboards():
        for panel in d["panels"]:
            for target in panel.get("targets", []):
                ds, text, fmt = _target_query(target, panel.get("datasource"))
                out.append(Query(f"{d['uid']} / {panel['title']} / {target['refId']}", ds, text, fmt,
                                 d["uid"], panel))
    return out


def variable_queries() -> list[Query]:
    out = []
    for d in dashboards():
        for var in d["templating"]["list"]:
            if var["type"] == "query":
                out.append(Query(f"{d['uid']} / variable {var['name']}", var["datasource"]["uid"],
                                 var["query"], "table", d["uid"]))
    return out


def annotation_queries() -> list[Query]:
    out = []
    for d in dashboards():
        for anno in d["annotations"]["list"]:
            if anno.get("builtIn"):
                continue
            out.append(Query(f"{d['uid']} / annotation {anno['name']}", anno["datasource"]["uid"],
                             anno["target"]["query"], "table", d["uid"]))
    return out


def rule_queries() -> list[Query]:
    """The datasource queries of the alert rules, as Grafana stores them: the model raw, not interpolated."""
    out = []
    for rule in rules():
        for q in rule["data"]:
            if q["datasourceUid"] == "__expr__":
                continue
            text = q["model"]["rawSql"]
            out.append(Query(f"{rule['uid']} / {q['refId']}", q["datasourceUid"], text, q["model"]["format"]))
    return out


def all_queries() -> list[Query]:
    return panel_queries() + variable_queries() + annotation_queries() + rule_queries()
