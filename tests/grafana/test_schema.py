"""Schema validation of the dashboards and alert rule groups against Grafana's published models.

The models are those of the `grafana-foundation-sdk` PyPI package (Apache-2.0, Grafana Labs), pinned
in the `test` extra to the build generated for Grafana v11.6.x (SDK_PIN below). The package carries no
JSON-schema or OpenAPI files: it carries Python classes generated (by Grafana's `cog`) from Grafana's own
schemas: the dashboard kind (v0/"v1" classic JSON model: panels, targets, fieldConfig, templating,
annotations, links), the panel plugins' Options/FieldConfig, the server-side expression queries
(`__expr__`), and the alerting provisioning API (RuleGroup, Rule, Query, RelativeTimeRange).

The SDK's `from_json` is lenient: it ignores unknown keys, copies scalars without checking their type
or enum value, fills defaults for absent required fields, and stores some nested objects as raw dicts
(Panel.links, Panel.transformations). So validation here is three checks on top of it, all driven by
the SDK's own classes (nothing about Grafana's schema is restated in this file):
  1. decode with the SDK's `from_json` (its own discriminators: panel type, mapping type, datasource
     type of a query); an exception there is a failure;
  2. walk the decoded objects against the SDK classes' type annotations (int/float/str/bool, Literal,
     IntEnum/StrEnum values, list/dict item types, nested classes; raw dicts a class left undecoded are
     decoded with the annotated class and checked the same way);
  3. re-encode with the SDK's `to_json` and compare with the input: a key the model does not know is
     dropped by the round trip (reported as not a field of the model); a value that changed was coerced.
Absent required fields are not reported: from_json fills the schema's default, and Grafana does too.

Not validated, because the SDK has no model for them: the InfluxDB (InfluxQL) and MySQL query models
(this build registers dataquery variants for __expr__, cloud-monitoring, cloudwatch, datasource,
elasticsearch, grafana-athena-datasource, grafana-azure-monitor-datasource, grafana-bigquery-datasource,
grafanapyroscope, loki, parca, prometheus, tempo and testdata only; 11.0.0 the same). For those targets only the common query envelope (refId, hide, queryType, datasource)
is checked, against common.DataQuery and dashboard.DataSourceRef. The panels' plugin-specific `options`
and `fieldConfig.defaults.custom` ARE validated for the panel types the SDK has (stat, table,
timeseries, barchart, bargauge, state-timeline, ...). The alerting file-provisioning format (the
`apiVersion: 1` YAML) has no model in the SDK: each group is mapped to the provisioning API's shape
first (`_api_rule_group`), which says where the two formats differ.
"""

from __future__ import annotations

import copy
import enum
import importlib.metadata
import inspect
import json
import re
import sys
import types
import typing
from dataclasses import dataclass, field

import pytest

# grafana-foundation-sdk, generated for Grafana v11.6.x (see SDK_PIN).
from grafana_foundation_sdk.cog import plugins as sdk_plugins
from grafana_foundation_sdk.cog import runtime as sdk_runtime
from grafana_foundation_sdk.cog import variants as sdk_variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder as SdkJSONEncoder
from grafana_foundation_sdk.models import alerting as sdk_alerting
from grafana_foundation_sdk.models import common as sdk_common
from grafana_foundation_sdk.models import dashboard as sdk_dashboard

from . import grafana_files as gf

SDK_PIN = "1769699379!11.6.0"
SDK_VERSION = importlib.metadata.version("grafana-foundation-sdk")

# Without this, from_json knows no panel plugin and no query type: every `options`, `custom` and
# target would stay an untyped dict (the SDK registers nothing on import).
sdk_plugins.register_default_plugins()


def test_the_pinned_sdk_is_installed():
    """The comments below name classes of this build; another build may differ (11.0 lacks `preload`...)."""
    assert SDK_VERSION == SDK_PIN, f"grafana-foundation-sdk {SDK_VERSION} installed, {SDK_PIN} pinned"


# ------------------------------------------------------------------------------------ the validator
@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    unvalidated: list[str] = field(default_factory=list)  # queries the SDK has no model for

    def merge(self, other: Report) -> None:
        self.errors += other.errors
        self.unvalidated += other.unvalidated


def _is_model(value_or_cls) -> bool:
    cls = value_or_cls if isinstance(value_or_cls, type) else type(value_or_cls)
    return callable(getattr(cls, "from_json", None)) and callable(getattr(cls, "to_json", None))


_HINTS: dict[type, dict[str, typing.Any]] = {}
_KEYS: dict[type, dict[str, str]] = {}
# In the generated from_json: `if "gridPos" in data:` ... `args["grid_pos"] = ...`.
_KEY_RE = re.compile(r'if "([^"]+)" in data:(?:(?!if "[^"]+" in data:).)*?args\["(\w+)"\]', re.S)


def _hints(cls: type) -> dict[str, typing.Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _json_keys(cls: type) -> dict[str, str]:
    """attribute -> JSON key, read from the SDK's generated from_json (for naming paths only)."""
    if cls not in _KEYS:
        try:
            source = inspect.getsource(cls.from_json)
        except (OSError, TypeError):
            source = ""
        _KEYS[cls] = {attr: key for key, attr in _KEY_RE.findall(source)}
    return _KEYS[cls]


def _resolve(ann, module: str):
    """Nested forward references ('ObjectMatcher' inside a type alias) that get_type_hints leaves."""
    if isinstance(ann, str):
        ann = typing.ForwardRef(ann)
    if isinstance(ann, typing.ForwardRef):
        return eval(ann.__forward_arg__, vars(sys.modules[module]))  # noqa: S307 (the SDK's own names)
    return ann


def _short(value) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_value(value, ann, path: str, rep: Report, module: str) -> None:
    ann = _resolve(ann, module)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is typing.Any or ann is object:
        if _is_model(value):
            _check_object(value, path, rep)
        return
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return
        options = [_resolve(a, module) for a in args if a is not type(None)]
        decoded_as = [o for o in options if isinstance(o, type) and _is_model(o) and isinstance(value, o)]
        if len(options) == 1 or decoded_as:  # a decoded object: the SDK already chose the member
            return _check_value(value, (decoded_as or options)[0], path, rep, module)
        for option in options:
            trial = Report()
            _check_value(value, option, path, trial, module)
            if not trial.errors:
                rep.merge(trial)
                return
        rep.errors.append(f"{path}: {_short(value)} matches none of {ann}")
        return
    if origin is typing.Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            rep.errors.append(f"{path}: {_short(value)} is not one of {list(args)}")
        return
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        if isinstance(value, ann):
            return
        allowed = [m.value for m in ann]
        if isinstance(value, bool) or value not in allowed:
            rep.errors.append(f"{path}: {_short(value)} is not a {ann.__name__} ({allowed})")
        return
    if origin is list:
        if not isinstance(value, list):
            rep.errors.append(f"{path}: expected a list, got {_short(value)}")
            return
        for i, item in enumerate(value):
            _check_value(item, args[0] if args else object, f"{path}[{i}]", rep, module)
        return
    if origin is dict:
        if not isinstance(value, dict):
            rep.errors.append(f"{path}: expected an object, got {_short(value)}")
            return
        for k, item in value.items():
            _check_value(k, args[0], f"{path} key {k!r}", rep, module)
            _check_value(item, args[1], f"{path}.{k}", rep, module)
        return
    if ann is bool:
        if not isinstance(value, bool):
            rep.errors.append(f"{path}: expected a boolean, got {_short(value)}")
        return
    if ann is int:
        if not isinstance(value, int) or isinstance(value, bool):
            rep.errors.append(f"{path}: expected an integer, got {_short(value)}")
        return
    if ann is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            rep.errors.append(f"{path}: expected a number, got {_short(value)}")
        return
    if ann is str:
        if not isinstance(value, str):
            rep.errors.append(f"{path}: expected a string, got {_short(value)}")
        return
    if isinstance(ann, type) and issubclass(ann, sdk_variants.Dataquery):
        if isinstance(value, sdk_runtime.UnknownDataquery):
            ds = value.data.get("datasource") if isinstance(value.data, dict) else None
            kind = ds.get("type") if isinstance(ds, dict) else None
            rep.unvalidated.append(f"{path} (datasource type {kind!r})")
        elif isinstance(value, sdk_variants.Dataquery):
            _check_object(value, path, rep)
        else:
            rep.errors.append(f"{path}: expected a query object, got {_short(value)}")
        return
    if isinstance(ann, type) and _is_model(ann):
        if isinstance(value, ann):
            _check_object(value, path, rep)
        elif isinstance(value, dict):  # a nested object the SDK's from_json left raw
            _decode(ann, value, path, rep)
        else:
            rep.errors.append(f"{path}: expected a {ann.__name__} object, got {_short(value)}")
        return
    raise AssertionError(f"{path}: the validator does not know the SDK annotation {ann!r}")


def _check_object(obj, path: str, rep: Report) -> None:
    cls = type(obj)
    keys = _json_keys(cls)
    for attr, ann in _hints(cls).items():
        _check_value(getattr(obj, attr, None), ann, f"{path}.{keys.get(attr, attr)}", rep, cls.__module__)


def _plain(obj) -> typing.Any:
    return json.loads(json.dumps(obj, cls=SdkJSONEncoder))


def _compare(src, out, path: str, rep: Report) -> None:
    """Input vs the SDK's re-encoding: dropped keys and changed values (added defaults are fine)."""
    if isinstance(src, dict):
        if not isinstance(out, dict):
            rep.errors.append(f"{path}: {_short(src)} was re-encoded as {_short(out)}")
            return
        for key, value in src.items():
            if key not in out:
                if value is not None:  # an explicit null of an optional field carries nothing
                    rep.errors.append(f"{path}.{key}: not a field of the SDK's model (dropped on decoding)")
            else:
                _compare(value, out[key], f"{path}.{key}", rep)
    elif isinstance(src, list):
        if not isinstance(out, list) or len(out) != len(src):
            rep.errors.append(f"{path}: {_short(src)} was re-encoded as {_short(out)}")
            return
        for i, (a, b) in enumerate(zip(src, out)):
            _compare(a, b, f"{path}[{i}]", rep)
    elif src != out or isinstance(src, bool) != isinstance(out, bool) or isinstance(src, str) != isinstance(out, str):
        rep.errors.append(f"{path}: {_short(src)} was re-encoded as {_short(out)} (coerced)")


def _failed(cls: type, exc: Exception) -> str:
    return f"{cls.__module__}.{cls.__qualname__}.from_json failed: {type(exc).__name__}: {exc}"


def _locate(cls: type, data, path: str, rep: Report) -> None:
    """Where a from_json that raised went wrong: the deepest object whose decoding fails."""
    if not isinstance(data, dict):
        rep.errors.append(f"{path}: expected a {cls.__name__} object, got {_short(data)}")
        return
    attrs = {key: attr for attr, key in _json_keys(cls).items()}
    hints = _hints(cls)
    before = len(rep.errors)
    for key, value in data.items():
        if key in attrs and attrs[key] in hints:
            _locate_value(value, hints[attrs[key]], f"{path}.{key}", rep, cls.__module__)
    if len(rep.errors) == before:
        try:
            cls.from_json(data)
        except Exception as exc:
            rep.errors.append(f"{path}: {_failed(cls, exc)}")


def _discriminated(options: list, value) -> list:
    """The union members the SDK's decoder would pick for `value`: it keys its decoding maps on
    `type` ({"row": RowPanel} with Panel as the fallback, {"value": ValueMap, "range": RangeMap...})."""
    if not isinstance(value, dict) or "type" not in value:
        return options
    fixed = {}
    for option in options:
        if isinstance(option, type) and _is_model(option):
            try:
                fixed[option] = option().to_json().get("type")
            except Exception:
                fixed[option] = None
    if len(fixed) < len(options):
        return options
    exact = [o for o, t in fixed.items() if t == value["type"]]
    return exact or [o for o, t in fixed.items() if t in ("", None)]  # [] if no member takes it


def _locate_value(value, ann, path: str, rep: Report, module: str) -> None:
    ann = _resolve(ann, module)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Union or origin is types.UnionType:
        options = [_resolve(a, module) for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return
        candidates = _discriminated(options, value)
        if not candidates:
            names = [o.__name__ for o in options]
            rep.errors.append(f"{path}.type: {_short(value['type'])} selects none of {names}")
            return
        trials = []
        for option in candidates:
            trial = Report()
            _locate_value(value, option, path, trial, module)
            if not trial.errors:
                return
            trials.append(trial)
        rep.merge(trials[0])
    elif origin is list and isinstance(value, list):
        for i, item in enumerate(value):
            _locate_value(item, args[0] if args else object, f"{path}[{i}]", rep, module)
    elif origin is dict and isinstance(value, dict):
        for k, item in value.items():
            _locate_value(item, args[1], f"{path}.{k}", rep, module)
    elif isinstance(ann, type) and issubclass(ann, sdk_variants.Dataquery):
        try:
            query = sdk_runtime.dataquery_from_json(value, "")
        except Exception as exc:
            rep.errors.append(f"{path}: cog.runtime.dataquery_from_json failed: {type(exc).__name__}: {exc}")
        else:
            if not isinstance(query, sdk_runtime.UnknownDataquery):
                _locate(type(query), value, path, rep)
    elif isinstance(ann, type) and _is_model(ann):
        _locate(ann, value, path, rep)


def _decode(cls: type, data, path: str, rep: Report, compare: bool = True):
    if not isinstance(data, dict):
        rep.errors.append(f"{path}: expected a {cls.__name__} object, got {_short(data)}")
        return None
    try:
        obj = cls.from_json(data)
    except Exception as exc:  # the SDK's decoding raises whatever the bad value makes it raise
        found = Report()
        _locate(cls, data, path, found)
        rep.errors += found.errors or [f"{path}: {_failed(cls, exc)}"]
        return None
    _check_object(obj, path, rep)
    if compare:
        try:
            out = _plain(obj)
        except (TypeError, ValueError) as exc:
            rep.errors.append(f"{path}: the SDK cannot re-encode it: {exc}")
        else:
            _compare(data, out, path, rep)
    return obj


def validate(cls: type, data, where: str) -> Report:
    """Validate one JSON document against an SDK model class; `where` prefixes every path."""
    rep = Report()
    _decode(cls, data, f"{where}:$", rep)
    return rep


# ------------------------------------------------------------------------------------ dashboards
def validate_dashboard(doc: dict, where: str) -> Report:
    # grafana_foundation_sdk.models.dashboard.Dashboard (SDK 1769699379!11.6.0, Grafana v11.6.x): the
    # classic dashboard JSON model (schemaVersion 41 in this build; Grafana migrates our 39 on load,
    # and the model's fields are the same for 39-41). Panels decode by `type` to Panel/RowPanel,
    # their options/fieldConfig.custom by the panel plugin's models.<plugin>.Options/FieldConfig,
    # targets by datasource type (models.expr, models.prometheus, ...; none for influxdb/mysql).
    return validate(sdk_dashboard.Dashboard, doc, where)


def _first_panel(doc: dict, panel_type: str | None = None) -> dict:
    return next(p for p in doc["panels"] if panel_type is None or p["type"] == panel_type)


def _break_gridpos(doc):
    _first_panel(doc)["gridPos"] = "h=8,w=12"


@pytest.mark.parametrize("path", gf.DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_matches_the_sdk_dashboard_model(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    rep = validate_dashboard(doc, path.name)
    assert not rep.errors, "\n".join(rep.errors)

    # The same function must reject a broken copy: a panel whose gridPos is a string.
    broken = copy.deepcopy(doc)
    _break_gridpos(broken)
    bad = validate_dashboard(broken, path.name)
    assert any(".panels[0].gridPos" in e for e in bad.errors), bad.errors


def _set(path: str, value):
    """A mutation: set the value at a dotted path (list indexes as numbers) of a dashboard copy."""
    def mutate(doc):
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return mutate


def _in_panel(panel_type: str, path: str, value):
    def mutate(doc):
        _set(path, value)(_first_panel(doc, panel_type))
    return mutate


# Each breaks one thing a different part of the validation has to catch (decode, type walk, round trip).
DASHBOARD_BREAKAGES = {
    "gridPos is a string": (_break_gridpos, "gridPos"),
    "gridPos.w is a string": (_in_panel("stat", "gridPos.w", "12"), "gridPos.w: expected an integer"),
    "unknown panel key": (_in_panel("stat", "gridpos", {"h": 1}), "gridpos: not a field"),
    "unknown dashboard key": (_set("refreshRate", "10s"), "refreshRate: not a field"),
    "graphTooltip out of enum": (_set("graphTooltip", 5), "graphTooltip: 5 is not a DashboardCursorSync"),
    "editable is a string": (_set("editable", "no"), "editable: expected a boolean"),
    "tags not strings": (_set("tags", ["jobpulse", 7]), "tags[1]: expected a string"),
    "threshold mode unknown": (_in_panel("stat", "fieldConfig.defaults.thresholds.mode", "relative"),
                               "thresholds.mode"),
    "value mapping type unknown": (_in_panel("stat", "fieldConfig.defaults.mappings", [{"type": "bogus"}]),
                                   "mappings[0].type: \"bogus\" selects none of"),
    "unit is a number": (_in_panel("stat", "fieldConfig.defaults.unit", 5), "defaults.unit: expected a string"),
    "stat option out of enum": (_in_panel("stat", "options.colorMode", "rainbow"), "options.colorMode"),
    "timeseries custom out of enum": (_in_panel("timeseries", "fieldConfig.defaults.custom.drawStyle", "zigzag"),
                                      "custom.drawStyle"),
    "table option unknown": (_in_panel("table", "options.showHeaders", True), "options.showHeaders: not a field"),
    "link type unknown": (_set("links.0.type", "bookmark"), "links[0].type"),
    "annotation enable is a string": (_set("annotations.list.0.enable", "yes"),
                                      "annotations.list[0].enable: expected a boolean"),
    "time is a string": (_set("time", "now-1h"), "$.time: \"now-1h\" was re-encoded"),
}


@pytest.mark.parametrize("breakage", DASHBOARD_BREAKAGES)
def test_dashboard_validation_rejects(breakage):
    mutate, expected = DASHBOARD_BREAKAGES[breakage]
    doc = gf.dashboard("jobpulse-overview")
    assert not validate_dashboard(copy.deepcopy(doc), "ok").errors
    mutate(doc)
    rep = validate_dashboard(doc, "broken")
    assert any(expected in e for e in rep.errors), f"{breakage}: expected {expected!r} in {rep.errors}"


# ------------------------------------------------------------------------------------ query models
def _targets():
    for path, doc in zip(gf.DASHBOARD_FILES, gf.dashboards()):
        for i, panel in enumerate(doc["panels"]):
            for j, target in enumerate(panel.get("targets", [])):
                yield f"{path.name}:$.panels[{i}].targets[{j}]", panel, target


def validate_target(panel: dict, target: dict, where: str) -> Report:
    # Decoded as grafana_foundation_sdk.models.dashboard.Panel.from_json does (SDK 1769699379!11.6.0):
    # cog.runtime.dataquery_from_json with the panel datasource's type as the hint. A registered type
    # gets its plugin model (models.prometheus.Dataquery, models.expr.TypeReduce, ...) and the full
    # check; an unregistered one (influxdb, mysql) comes back as cog.runtime.UnknownDataquery, a bag
    # that checks nothing, so only the envelope every query shares is checked: models.common.DataQuery
    # (refId, hide, queryType; no round trip, the plugin's own keys are not its fields) and the target's
    # datasource as models.dashboard.DataSourceRef (with the round trip).
    rep = Report()
    ds = panel.get("datasource")
    hint = ds.get("type", "") if isinstance(ds, dict) else ""
    try:
        query = sdk_runtime.dataquery_from_json(target, hint)
    except Exception as exc:
        rep.errors.append(f"{where}: dataquery_from_json failed: {type(exc).__name__}: {exc}")
        return rep
    if isinstance(query, sdk_runtime.UnknownDataquery):
        rep.unvalidated.append(f"{where} (datasource type {hint!r})")
        _decode(sdk_common.DataQuery, target, f"{where}", rep, compare=False)
        if "datasource" in target:
            _decode(sdk_dashboard.DataSourceRef, target["datasource"], f"{where}.datasource", rep)
    else:
        _decode(type(query), target, where, rep)
    return rep


def test_sdk_has_no_influxdb_or_mysql_query_model():
    """What cannot be validated, stated so that a pin with such a model makes this test say so."""
    registered = set(sdk_runtime.Runtime().dataquery_variants)
    assert "__expr__" in registered and "prometheus" in registered
    assert not {"influxdb", "influx", "mysql", "grafana-mysql-datasource"} & registered, registered
    kinds = {(t.get("datasource") or {}).get("type") for _, _, t in _targets()}
    assert kinds == {"influxdb", "mysql"}, kinds


def test_panel_targets_match_the_sdk_query_models():
    unvalidated, checked = [], 0
    for where, panel, target in _targets():
        rep = validate_target(panel, target, where)
        assert not rep.errors, "\n".join(rep.errors)
        unvalidated += rep.unvalidated
        checked += 1
    assert checked and all("'influxdb'" in u or "'mysql'" in u for u in unvalidated), unvalidated

    # Negative checks: the envelope check bites on both datasource types ...
    for kind in ("influxdb", "mysql"):
        where, panel, target = next(x for x in _targets() if x[2]["datasource"]["type"] == kind)
        assert "refId: expected a string" in "\n".join(validate_target(panel, dict(target, refId=1), where).errors)
        bad = validate_target(panel, dict(target, datasource={"type": kind, "uid": 7}), where).errors
        assert any("datasource.uid: expected a string" in e for e in bad), bad
        bad = validate_target(panel, dict(target, hide="no"), where).errors
        assert any("hide: expected a boolean" in e for e in bad), bad
    # ... and a query type the SDK does have is checked in full (the same function, a prometheus target).
    prom = {"type": "prometheus", "uid": "p"}
    good = {"refId": "A", "datasource": prom, "expr": "up", "range": True}
    assert not validate_target({"datasource": prom}, good, "prom").errors
    bad = validate_target({"datasource": prom}, dict(good, expr=1, rangeX=True), "prom").errors
    assert any("expr: expected a string" in e for e in bad) and any("rangeX: not a field" in e for e in bad), bad


# ------------------------------------------------------------------------------------ alert rules
FILE_GROUP_KEYS = {"orgId", "name", "folder", "interval", "rules"}
# A file-provisioned group names its folder by title and Grafana creates it with a generated UID
# (dashboards/provisioning/dashboards/jobpulse.yaml says why we keep it so); the API wants that UID.
# Any string is valid there, so this placeholder stands for it.
FOLDER_UID = "uid-of-the-jobpulse-folder"
_DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _api_rule_group(group, where: str, rep: Report) -> dict | None:
    """One group of alerts/rules.yaml (file provisioning, apiVersion 1) in the provisioning API's shape.

    grafana_foundation_sdk.models.alerting.RuleGroup/Rule (SDK 1769699379!11.6.0) model the HTTP
    provisioning API (`PUT /api/v1/provisioning/folder/{uid}/rule-groups/{group}`: AlertRuleGroup with
    ProvisionedAlertRule), not the file format. The differences, handled here and nowhere else:
      * group `name` is the API's `title`; `folder` (a folder title) becomes `folderUid`;
      * group `interval` is a duration string ("10s") in the file, integer seconds in the API
        (alerting.Duration = int);
      * `orgId` is per group in the file, `orgID` per rule in the API; the API's rules also carry
        `folderUID` and `ruleGroup`, which the file format takes from the group;
      * everything else of a rule (uid, title, condition, data[refId, relativeTimeRange{from,to} in
        integer seconds, datasourceUid, model], noDataState, execErrState, for, labels, annotations,
        isPaused) is spelled the same in both and is passed through untouched, so an unknown or
        misspelt rule key is still dropped by the SDK's round trip and reported. The file format's
        `dashboardUid`/`panelId` have no field in the SDK's Rule (the API puts them in annotations):
        they would be reported too; our rules do not use them.
    The file-format group keys themselves have no SDK model: unknown ones are reported here.
    """
    if not isinstance(group, dict):
        rep.errors.append(f"{where}: a rule group must be an object, got {_short(group)}")
        return None
    for key in sorted(set(group) - FILE_GROUP_KEYS):
        rep.errors.append(f"{where}.{key}: not a key of a file-provisioned rule group")
    interval = group.get("interval", "1m")
    if isinstance(interval, str) and _DURATION.fullmatch(interval):
        seconds = sum(int(n) * _UNIT_S[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w)", interval))
        interval = int(seconds) if seconds == int(seconds) else seconds
    else:
        rep.errors.append(f"{where}.interval: {_short(interval)} is not a duration string")
    rules = group.get("rules")
    api_rules = rules
    if isinstance(rules, list):
        api_rules = []
        for i, rule in enumerate(rules):
            if isinstance(rule, dict):
                for key in ("folderUID", "ruleGroup", "orgID"):
                    if key in rule:
                        rep.errors.append(f"{where}.rules[{i}].{key}: an API key, not one of the file format")
                rule = {**rule, "folderUID": FOLDER_UID, "ruleGroup": group.get("name"),
                        "orgID": group.get("orgId", 1)}
            api_rules.append(rule)
    return {"title": group.get("name"), "folderUid": FOLDER_UID, "interval": interval, "rules": api_rules}


def validate_rule_group(group, where: str) -> Report:
    # grafana_foundation_sdk.models.alerting.RuleGroup (SDK 1769699379!11.6.0): rules as alerting.Rule,
    # their data as alerting.Query with RelativeTimeRange, each query's model through
    # cog.runtime.dataquery_from_json by model.datasource.type: `__expr__` -> models.expr.TypeReduce /
    # TypeThreshold / TypeMath / ... (checked in full), `mysql` -> UnknownDataquery (not checked).
    rep = Report()
    body = _api_rule_group(group, where, rep)
    if body is not None:
        _decode(sdk_alerting.RuleGroup, body, f"{where}(as API)", rep)
    return rep


def _groups():
    return gf.load_yaml(gf.RULES_FILE)["groups"]


@pytest.mark.parametrize("index", range(len(_groups())), ids=lambda i: _groups()[i]["name"])
def test_rule_group_matches_the_sdk_alerting_model(index):
    group = _groups()[index]
    where = f"rules.yaml:$.groups[{index}]"
    rep = validate_rule_group(group, where)
    assert not rep.errors, "\n".join(rep.errors)
    # Only the MySQL queries' models are beyond the SDK; every expression was checked.
    assert all("'mysql'" in u for u in rep.unvalidated), rep.unvalidated
    expressions = [q for r in group["rules"] for q in r["data"] if q["datasourceUid"] == "__expr__"]
    assert expressions and len(rep.unvalidated) == sum(len(r["data"]) for r in group["rules"]) - len(expressions)

    # The same function must reject a broken copy: a rule whose noDataState is "Sometimes".
    broken = copy.deepcopy(group)
    broken["rules"][0]["noDataState"] = "Sometimes"
    bad = validate_rule_group(broken, where)
    assert any("rules[0].noDataState: \"Sometimes\" is not one of" in e for e in bad.errors), bad.errors


def _rule(path: str, value):
    def mutate(group):
        _set(path, value)(group["rules"][0])
    return mutate


def _query(kind: str, path: str, value):
    def mutate(group):
        query = next(q for q in group["rules"][0]["data"] if q["model"].get("type") == kind)
        _set(path, value)(query)
    return mutate


RULE_BREAKAGES = {
    "noDataState out of enum": (_rule("noDataState", "Sometimes"), "noDataState: \"Sometimes\" is not one of"),
    "execErrState out of enum": (_rule("execErrState", "Never"), "execErrState: \"Never\" is not one of"),
    "misspelt rule key": (_rule("noDataStat", "OK"), "rules[0].noDataStat: not a field"),
    "for is a number": (_rule("for", 0), "rules[0].for: expected a string"),
    "isPaused is a string": (_rule("isPaused", "false"), "isPaused: expected a boolean"),
    "label value is a number": (_rule("labels.team", 1), "labels.team: expected a string"),
    "relativeTimeRange.from is a string": (_rule("data.0.relativeTimeRange.from", "10m"),
                                           "relativeTimeRange.from: expected an integer"),
    "unknown query key": (_rule("data.0.datasourceUID", "x"), "data[0].datasourceUID: not a field"),
    "reducer out of enum": (_query("reduce", "model.reducer", "final"), "model.reducer: \"final\" is not one of"),
    "reduce mode out of enum": (_query("reduce", "model.settings.mode", "drop"), "settings.mode"),
    "threshold evaluator out of enum": (_query("threshold", "model.conditions.0.evaluator.type", "bigger"),
                                        "evaluator.type: \"bigger\" is not one of"),
    "threshold param is a string": (_query("threshold", "model.conditions.0.evaluator.params.0", "0"),
                                    "evaluator.params[0]: expected a number"),
    "unknown expression type": (_query("reduce", "model.type", "reducer"), "from_json failed: KeyError"),
    "unknown expression key": (_query("reduce", "model.expresion", "A"), "model.expresion: not a field"),
    "interval not a duration": (_set("interval", "ten seconds"), "interval: \"ten seconds\" is not a duration"),
    "unknown group key": (_set("evaluateEvery", "10s"), "evaluateEvery: not a key"),
}


@pytest.mark.parametrize("breakage", RULE_BREAKAGES)
def test_rule_group_validation_rejects(breakage):
    mutate, expected = RULE_BREAKAGES[breakage]
    group = copy.deepcopy(_groups()[0])
    assert not validate_rule_group(copy.deepcopy(group), "ok").errors
    mutate(group)
    rep = validate_rule_group(group, "broken")
    assert any(expected in e for e in rep.errors), f"{breakage}: expected {expected!r} in {rep.errors}"
