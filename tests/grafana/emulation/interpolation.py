"""Environment interpolation of Grafana's provisioning files, per file kind and field.

Written from grafana/grafana (11.0-12.x), independently of jobpulse's own reader so that a test can
compare the two:
* pkg/services/provisioning/values/values.go, ``interpolateValue``: the value is split on ``$$``, each
  part goes through ``os.ExpandEnv`` and the parts are joined with ``$``. Go's ``os.Expand`` (os/env.go,
  ``Expand``/``getShellName``): ``${name}`` up to the first ``}``, ``$name`` over letters, digits and
  ``_``, a single special character (``*#$@!?-`` or a digit) after ``$`` is a name of its own, ``${}``
  is eaten, a ``$`` followed by nothing nameable stays; an unset name becomes "".
* which fields go through it: datasource files and dashboard-provider files, every value
  (provisioning/datasources/types.go, provisioning/dashboards/types.go: all ``values.*`` types);
  alert rule groups, everything but each rule's annotations and query models, which are taken Raw
  (provisioning/alerting/rules_types.go, ``AlertRuleV1.mapToModel``: ``Annotations.Raw``,
  ``Model.Raw``); contact points and policies, every value (contact_point_types.go
  ``ReceiverV1.mapToModel`` uses ``Settings.Value()``; notification_policy_types.go); dashboard JSON,
  nothing (dashboards/file_reader.go ``readDashboardFromFile``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SPECIAL = set("*#$@!?-0123456789")


def _shell_name(s: str) -> tuple[str, int]:
    """os/env.go getShellName: (name, characters consumed) for the text after a '$'."""
    if s[0] == "{":
        if len(s) > 2 and s[1] in _SPECIAL and s[2] == "}":
            return s[1], 3
        for i in range(1, len(s)):
            if s[i] == "}":
                return ("", 2) if i == 1 else (s[1:i], i + 1)
        return "", 1
    if s[0] in _SPECIAL:
        return s[0], 1
    i = 0
    while i < len(s) and (s[i] == "_" or s[i].isascii() and s[i].isalnum()):
        i += 1
    return s[:i], i


def os_expand_env(s: str, environ: Mapping[str, str]) -> str:
    out, i, j = [], 0, 0
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            out.append(s[i:j])
            name, width = _shell_name(s[j + 1:])
            if name == "" and width > 0:
                pass  # bad syntax: eaten
            elif name == "":
                out.append(s[j])  # a "$" before nothing nameable stays
            else:
                out.append(environ.get(name, ""))
            j += width
            i = j + 1
        j += 1
    out.append(s[i:])
    return "".join(out)


def interpolate_value(value: str, environ: Mapping[str, str]) -> str:
    return "$".join(os_expand_env(part, environ) for part in value.split("$$"))


def interpolate(value: Any, environ: Mapping[str, str]) -> Any:
    """values.JSONValue: string leaves interpolated, keys and other scalars left alone."""
    if isinstance(value, str):
        return interpolate_value(value, environ)
    if isinstance(value, list):
        return [interpolate(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, environ) for k, v in value.items()}
    return value


def rule_group(group: dict, environ: Mapping[str, str]) -> dict:
    """An alerting file's rule group as AlertRuleGroupV1/AlertRuleV1.mapToModel sees it."""
    out = interpolate({k: v for k, v in group.items() if k != "rules"}, environ)
    out["rules"] = []
    for rule in group.get("rules") or []:
        mapped = interpolate({k: v for k, v in rule.items() if k not in ("annotations", "data")}, environ)
        mapped["annotations"] = rule.get("annotations") or {}
        mapped["data"] = [dict(interpolate({k: v for k, v in q.items() if k != "model"}, environ),
                               model=q["model"]) for q in rule.get("data") or []]
        out["rules"].append(mapped)
    return out
