"""The body of Grafana's webhook contact point, in the shape Grafana sends it.

Follows grafana/alerting (branches v11.0.x-v12.3.x): receivers/webhook/webhook.go ``webhookMessage``
(an embedded ``ExtendedData`` plus ``version`` "1", ``groupKey``, ``truncatedAlerts``, ``orgId``,
``title``, ``state`` "alerting"/"ok", ``message``) and templates/template_data.go ``ExtendedData`` /
``ExtendedAlert``. What the hub depends on:
* ``endsAt`` of a firing alert is the zero time ``0001-01-01T00:00:00Z`` (the dispatcher zeroes it);
* ``values`` is a map of floats, or ``null`` when any value is NaN (Go's JSON encoder refuses NaN, so
  Grafana drops the ``__values__`` annotation it is read from: state/compat.go StateToPostableAlert);
* ``grafana_state_reason`` (NoData, Error, MissingSeries, Paused, ...) is an ordinary annotation;
* an alert's labels are the query's labels, the rule's own labels, ``alertname`` (the rule title)
  and ``grafana_folder``; NoData/Error become alerts named ``DatasourceNoData``/``DatasourceError``
  with ``rulename`` and the rule's labels but no query labels;
* ``receiver`` is ``regexp.QuoteMeta`` of the contact point's name; 12.0+ adds a per-alert ``orgId``.
No live Grafana produced these bodies (none can run here); they are built from those structs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

ZERO_TIME = "0001-01-01T00:00:00Z"
FOLDER = "jobpulse"
_QUOTE_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def alert(rule_labels: dict, title: str, query_labels: dict | None = None, *, status: str = "firing",
          values: dict | None = None, annotations: dict | None = None, state_reason: str | None = None,
          starts_at: str = "2026-11-22T10:00:00Z", ends_at: str = "2026-11-22T10:05:00Z",
          version: tuple[int, int] = (11, 3)) -> dict:
    """One ExtendedAlert. ``state_reason`` "NoData"/"Error" turns it into Grafana's DatasourceNoData /
    DatasourceError alert for the rule."""
    if state_reason in ("NoData", "Error"):
        labels = dict(rule_labels, alertname=f"Datasource{state_reason}", rulename=title, grafana_folder=FOLDER)
    else:
        labels = dict(query_labels or {}, **rule_labels, alertname=title, grafana_folder=FOLDER)
    notes = dict(annotations or {})
    if state_reason:
        notes["grafana_state_reason"] = state_reason
    floats = None
    if values and not any(v is None or math.isnan(v) for v in values.values()):
        floats = {k: float(v) for k, v in values.items()}
    body = {
        "status": status,
        "labels": labels,
        "annotations": notes,
        "startsAt": starts_at,
        "endsAt": ZERO_TIME if status == "firing" else ends_at,
        "generatorURL": "http://grafana.local:3000/alerting/grafana/jobpulse-rule/view?orgId=1",
        "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16],
        "silenceURL": "http://grafana.local:3000/alerting/silence/new?alertmanager=grafana&orgId=1",
        "dashboardURL": "",
        "panelURL": "",
        "values": floats,
        "valueString": "" if floats is None else ", ".join(
            f"[ var='{k}' labels={{}} value={v:g} ]" for k, v in floats.items()),
    }
    if version >= (12, 0):
        body["orgId"] = 1
    return body


def payload(*alerts: dict, receiver: str = "jobpulse-hub", status: str | None = None) -> dict:
    """One webhook notification (webhookMessage) for ``alerts`` of one group."""
    status = status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    common_labels = _common([a["labels"] for a in alerts])
    group = {k: common_labels[k] for k in ("alertname",) if k in common_labels}
    firing = sum(1 for a in alerts if a["status"] == "firing")
    return {
        "receiver": _QUOTE_META.sub(r"\\\1", receiver),
        "status": status,
        "alerts": list(alerts),
        "groupLabels": group,
        "commonLabels": common_labels,
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": "http://grafana.local:3000/",
        "version": "1",
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}",
        "truncatedAlerts": 0,
        "orgId": 1,
        "title": f"[{status.upper()}:{firing or len(alerts)}] {group.get('alertname', '')}",
        "state": "alerting" if status == "firing" else "ok",
        "message": "",
    }


def _common(maps: list[dict]) -> dict:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if not k.startswith("__") and all(m.get(k) == v for m in maps[1:])}
