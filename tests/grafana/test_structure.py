"""Structure checks of every Grafana file against Grafana's documented formats and jobpulse's contracts.

Formats: dashboard JSON model (schemaVersion of Grafana 11, panels with gridPos/targets/fieldConfig),
datasource and dashboard-provider provisioning (apiVersion 1), alerting file provisioning (groups of
rules with uid/title/condition/data/noDataState/execErrState/for; contactPoints; policies). Contracts:
every metric, field and tag an InfluxQL query uses exists in jobpulse.semconv; every status/phase
name the SQL or a value mapping uses is semconv's; the labels the hub's webhook reads are there.
"""

from __future__ import annotations

import json
import re

import pytest

from jobpulse import semconv
from jobpulse.grafana import expand, expand_tree

from . import grafana_files as gf
from .emulation import interpolation
from .emulation.alias import series_name
from .emulation.macros import (
    INFLUX_BUILTINS,
    MYSQL_BUILTINS,
    MYSQL_ENGINES,
    TimeRange,
    expand_mysql,
    referenced_variables,
)

UID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
PANEL_TYPES = {"stat", "table", "timeseries", "barchart", "bargauge", "state-timeline", "gauge", "text"}
UNITS = {"bytes", "Bps", "s", "percent", "short", "none", "dateTimeAsIso"}
NO_DATA_STATES = {"NoData", "Alerting", "OK"}
EXEC_ERR_STATES = {"Error", "Alerting", "OK"}
RULE_SEVERITY = {"job_stalled": "warning", "job_failed": "critical", "job_stuck": "warning",
                 "job_late": "warning", "job_slow": "warning",
                 "pipeline_down": "critical", "node_down": "warning"}
HUB_TABLES = {"jobs", "job_disks", "nodes", "pipeline_state", "settings"}
STATUS_NAMES = [s.label for s in semconv.Status]
PHASE_NAMES = [p.label for p in semconv.Phase]
DISK_STATUS_NAMES = [s.label for s in semconv.DiskStatus]
# The hub's flags behind the warning rules (job_late sets jobs.late, job_slow jobs.slow); a job at risk shows
# the ones set, joined in this order.
RISK_FLAGS = [rule.removeprefix("job_") for rule in (semconv.RULE_JOB_LATE, semconv.RULE_JOB_SLOW)]
RISK_MARKS = {"late", "slow", "late, slow"}


def _all_panels():
    return [(d, p) for d in gf.dashboards() for p in d["panels"]]


def _walk(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


# -------------------------------------------------------------------------------- datasources
def test_datasources_file_has_fixed_uids_and_env_secrets():
    doc = gf.load_yaml(gf.DATASOURCES_FILE)
    assert doc["apiVersion"] == 1
    by_uid = {ds["uid"]: ds for ds in doc["datasources"]}
    assert set(by_uid) == {gf.INFLUX_UID, gf.MYSQL_UID}
    influx, mysql = by_uid[gf.INFLUX_UID], by_uid[gf.MYSQL_UID]
    assert influx["type"] == "influxdb" and influx["jsonData"]["version"] == "InfluxQL"
    assert mysql["type"] == "mysql"
    # Naive-UTC DATETIMEs vs FROM_UNIXTIME() in $__timeFilter: the session must be UTC.
    assert mysql["jsonData"]["timezone"] == "+00:00"
    for ds in doc["datasources"]:
        assert ds["access"] == "proxy" and ds["name"]
        assert re.fullmatch(r"\$\{JOBPULSE_\w+\}", ds["url"])
        assert re.fullmatch(r"\$\{JOBPULSE_\w+\}", ds["user"])
        assert set(ds["secureJsonData"]) == {"password"}
        assert re.fullmatch(r"\$\{JOBPULSE_\w+\}", ds["secureJsonData"]["password"])
        assert "password" not in ds and "password" not in ds["jsonData"]


def test_the_influxdb2_variant_differs_only_in_how_influxdb_is_reached():
    one = {ds["uid"]: ds for ds in gf.load_yaml(gf.DATASOURCES_FILE)["datasources"]}
    two = {ds["uid"]: ds for ds in gf.load_yaml(gf.DATASOURCES_FILE_INFLUXDB2)["datasources"]}
    assert one[gf.MYSQL_UID] == two[gf.MYSQL_UID]
    influx = two[gf.INFLUX_UID]
    # InfluxQL mode has no token field: the token rides in a custom header (docs/grafana.md).
    assert influx["jsonData"].pop("httpHeaderName1") == "Authorization"
    assert influx.pop("secureJsonData") == {"httpHeaderValue1": "Token ${JOBPULSE_INFLUX_TOKEN}"}
    first = dict(one[gf.INFLUX_UID])
    del first["user"], first["secureJsonData"]
    assert influx == first


def test_datasource_values_expand_from_the_environment():
    doc = gf.load_yaml(gf.DATASOURCES_FILE)
    missing: set[str] = set()
    env = {"JOBPULSE_INFLUX_URL": "http://influx:8086", "JOBPULSE_INFLUX_DB": "jobpulse"}
    out = expand_tree(doc, env, missing)
    influx = next(ds for ds in out["datasources"] if ds["uid"] == gf.INFLUX_UID)
    assert influx["url"] == "http://influx:8086" and influx["jsonData"]["dbName"] == "jobpulse"
    assert "JOBPULSE_GRAFANA_MYSQL_PASSWORD" in missing


@pytest.mark.parametrize("text", ["${A}/$B_2/$$A/$${A}/cost $$5", "$", "a$", "${}", "${A", "$1x", "$-y",
                                  "${*}", "$$$B_2", "$ A", "x${A}y$B_2z", "$é", "${A}}"])
def test_expand_agrees_with_grafanas_interpolation(text):
    """The command's reader and the emulation of Grafana's interpolateValue + os.ExpandEnv agree."""
    env = {"A": "x", "B_2": "y", "1": "one", "-": "dash", "*": "star"}
    assert expand(text, env) == interpolation.interpolate_value(text, env)


def test_expand_follows_grafana_semantics():
    env = {"A": "x", "B_2": "y"}
    assert expand("${A}/$B_2/$$A/$${A}/cost $$5", env) == "x/y/$A/${A}/cost $5"
    missing: set[str] = set()
    assert expand("${NOPE}-$ALSO_NOT", {}, missing) == "-"
    assert missing == {"NOPE", "ALSO_NOT"}


def test_dashboard_provider_points_at_the_json_and_the_folder():
    doc = gf.load_yaml(gf.PROVIDER_FILE)
    assert doc["apiVersion"] == 1
    [provider] = doc["providers"]
    # No folderUid: the rules' folder is created first, by title (see test_loading_paths).
    assert provider["type"] == "file" and "folderUid" not in provider
    assert provider["options"]["path"] == "${JOBPULSE_DASHBOARDS_DIR}"
    assert provider["allowUiUpdates"] is False
    # the rule group lives in the same folder (by title in the alerting file format)
    assert {g["folder"] for g in gf.load_yaml(gf.RULES_FILE)["groups"]} == {provider["folder"]}


# -------------------------------------------------------------------------------- dashboards
def test_four_dashboards_with_fixed_unique_uids():
    uids = [d["uid"] for d in gf.dashboards()]
    assert sorted(uids) == ["jobpulse-history", "jobpulse-job-detail", "jobpulse-nodes", "jobpulse-overview"]
    for d in gf.dashboards():
        assert UID_RE.match(d["uid"])
        assert 39 <= d["schemaVersion"] <= 41, "Grafana 11's dashboard schema"
        assert d["title"] and "jobpulse" in d["tags"]
        assert d["time"] == {"from": "now-1h", "to": "now"}
        assert "id" not in d or d["id"] is None, "an id would clash between Grafana instances"


@pytest.mark.parametrize("path", gf.DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_json_is_not_env_escaped(path):
    """Grafana does not interpolate dashboard JSON: a '$$' there would reach the query as '$$'."""
    assert "$$" not in path.read_text()


def test_panels_are_well_formed():
    known = {gf.INFLUX_UID: "influxdb", gf.MYSQL_UID: "mysql"}
    for d in gf.dashboards():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), d["uid"]
        for p in d["panels"]:
            where = f"{d['uid']} / {p['title']}"
            assert p["type"] in PANEL_TYPES, where
            g = p["gridPos"]
            assert set(g) == {"h", "w", "x", "y"} and g["x"] + g["w"] <= 24 and g["h"] > 0, where
            assert known[p["datasource"]["uid"]] == p["datasource"]["type"], where
            refs = [t["refId"] for t in p["targets"]]
            assert refs and len(refs) == len(set(refs)), where
            for t in p["targets"]:
                assert t["datasource"] == p["datasource"], where
                if t["datasource"]["uid"] == gf.INFLUX_UID:
                    assert t["rawQuery"] is True and t["query"].lstrip().upper().startswith("SELECT"), where
                    assert t["resultFormat"] in ("time_series", "table"), where
                else:
                    assert t["rawQuery"] is True and t["rawSql"].lstrip().upper().startswith("SELECT"), where
                    assert t["format"] in ("time_series", "table"), where
                    if t["format"] == "time_series":
                        assert "$__timeGroupAlias(" in t["rawSql"] or '"time"' in t["rawSql"], where
            assert p["fieldConfig"]["defaults"]["unit"] in UNITS, where
            for ov in p["fieldConfig"]["overrides"]:
                for prop in ov["properties"]:
                    if prop["id"] == "unit":
                        assert prop["value"] in UNITS, where
    for d in gf.dashboards():
        for var in d["templating"]["list"]:
            assert known[var["datasource"]["uid"]] == var["datasource"]["type"]
        for anno in d["annotations"]["list"]:
            if not anno.get("builtIn"):
                assert known[anno["datasource"]["uid"]] == anno["datasource"]["type"]


def _units(panel) -> set[str]:
    units = {panel["fieldConfig"]["defaults"]["unit"]}
    for ov in panel["fieldConfig"]["overrides"]:
        units |= {prop["value"] for prop in ov["properties"] if prop["id"] == "unit"}
    return units


@pytest.mark.parametrize("dashboard_uid, title, units", [
    ("jobpulse-overview", "Active jobs", {"percent", "Bps", "s", "bytes", "dateTimeAsIso"}),
    ("jobpulse-overview", "Jobs at risk", {"short"}),
    ("jobpulse-job-detail", "Deadline and forecast", {"dateTimeAsIso", "s", "Bps", "percent"}),
    ("jobpulse-overview", "Aggregate throughput", {"Bps"}),
    ("jobpulse-job-detail", "Bytes per disk", {"bytes"}),
    ("jobpulse-job-detail", "Progress", {"percent"}),
    ("jobpulse-job-detail", "Percent per disk", {"percent"}),
    ("jobpulse-job-detail", "Speed", {"Bps"}),
    ("jobpulse-job-detail", "ETA", {"s"}),
    ("jobpulse-history", "Completed backup sizes per machine", {"bytes"}),
    ("jobpulse-history", "Job durations by type", {"s"}),
    ("jobpulse-history", "Failure rate by type", {"percent"}),
])
def test_panels_show_units(dashboard_uid, title, units):
    panel = next(p for p in gf.dashboard(dashboard_uid)["panels"] if p["title"] == title)
    assert units <= _units(panel)


def test_thresholds_are_ascending_with_a_base_step():
    for d, p in _all_panels():
        sets = [p["fieldConfig"]["defaults"]["thresholds"]]
        sets += [prop["value"] for ov in p["fieldConfig"]["overrides"] for prop in ov["properties"]
                 if prop["id"] == "thresholds"]
        for th in sets:
            assert th["mode"] == "absolute"
            assert th["steps"][0]["value"] is None, (d["uid"], p["title"])
            values = [s["value"] for s in th["steps"][1:]]
            assert values == sorted(values), (d["uid"], p["title"])


def test_telemetry_age_thresholds_match_the_seeds():
    panel = next(p for p in gf.dashboard("jobpulse-overview")["panels"] if p["title"] == "Active jobs")
    [th] = [prop["value"] for ov in panel["fieldConfig"]["overrides"] if ov["matcher"]["options"] == "Telemetry age"
            for prop in ov["properties"] if prop["id"] == "thresholds"]
    assert [s["value"] for s in th["steps"]] == [None, 60, 300]


def _panel(dashboard_uid: str, title: str) -> dict:
    return next(p for p in gf.dashboard(dashboard_uid)["panels"] if p["title"] == title)


def _override(panel: dict, field: str, prop: str):
    [value] = [p["value"] for ov in panel["fieldConfig"]["overrides"] if ov["matcher"]["options"] == field
               for p in ov["properties"] if p["id"] == prop]
    return value


def test_active_jobs_put_the_jobs_at_risk_first():
    panel = _panel("jobpulse-overview", "Active jobs")
    [target] = panel["targets"]
    assert target["rawSql"].split("ORDER BY", 1)[1].lstrip().startswith("(late OR slow) DESC")
    # A table's sortBy re-sorts the rows in the browser, over the SQL's order.
    assert not panel["options"].get("sortBy")


def test_risk_marks_are_the_hubs_flags_and_all_mapped():
    assert RISK_MARKS == {", ".join(f for f, on in zip(RISK_FLAGS, bits) if on) for bits in
                          [(1, 0), (0, 1), (1, 1)]}
    expected = "CONCAT_WS(', ', " + ", ".join(f"IF({f}, '{f}', NULL)" for f in RISK_FLAGS) + ") AS `Risk`"
    for uid, title in [("jobpulse-overview", "Active jobs"), ("jobpulse-job-detail", "Deadline and forecast")]:
        panel = _panel(uid, title)
        [target] = panel["targets"]
        assert expected in target["rawSql"], title
        assert set(_mappings(_override(panel, "Risk", "mappings"))) == RISK_MARKS, title


def test_speed_vs_usual_turns_at_the_seed_slow_ratio():
    """Like the telemetry age's 60 s / 300 s: a dashboard cannot read the hub's settings for a colour."""
    from jobpulse.hub.core.config import Settings

    ratio = Settings.model_fields["slow_ratio"].default
    for uid, title in [("jobpulse-overview", "Active jobs"), ("jobpulse-job-detail", "Deadline and forecast")]:
        panel = _panel(uid, title)
        assert "speed_vs_usual * 100 AS `Speed vs usual`" in panel["targets"][0]["rawSql"], title
        assert _override(panel, "Speed vs usual", "unit") == "percent"
        steps = _override(panel, "Speed vs usual", "thresholds")["steps"]
        assert [s["value"] for s in steps] == [None, 100 * ratio], title


# -------------------------------------------------------------------------------- queries vs semconv
def _influx_parts(query: str):
    measurements = re.findall(r'FROM\s+"([^"]+)"', query)
    aliases = set(re.findall(r'AS\s+"([^"]+)"', query))
    fields = set(re.findall(r'\(\s*"([^"]+)"\s*\)', query)) - aliases
    quoted = set(re.findall(r'"([^"]+)"', query))
    tags = quoted - set(measurements) - aliases - fields - {semconv.FIELD_COUNTER, semconv.FIELD_GAUGE}
    tag_aliases = set(re.findall(r"\$tag_([\w.]+)", query))
    return measurements, fields, tags, tag_aliases


def _influx_queries():
    out = [(q.where, q.text, None) for q in gf.all_queries() if q.is_influx]
    for q in gf.panel_queries():
        if q.is_influx:
            target = next(t for t in q.panel["targets"] if t["query"] == q.text)
            out.append((q.where + " alias", "", target.get("alias", "")))
    return out


def test_every_influx_metric_field_and_tag_is_in_semconv():
    checked = 0
    for where, text, alias in _influx_queries():
        if alias is not None:
            continue
        measurements, fields, tags, _ = _influx_parts(text)
        assert measurements, where
        for name in measurements:
            known = semconv.METRICS_BY_NAME | semconv.NODE_METRICS_BY_NAME
            assert name in known, f"{where}: unknown metric {name}"
            spec = known[name]
            assert fields == {spec.field}, f"{where}: {name} stores its value in {spec.field!r}, query reads {fields}"
            assert tags <= set(spec.attributes), f"{where}: tags {tags - set(spec.attributes)} not on {name}"
            checked += 1
    assert checked >= len([q for q in gf.all_queries() if q.is_influx]) >= 10


def test_influx_aliases_name_every_series():
    """Each alias resolves through Grafana's alias pattern (emulation.alias) for the series its query
    groups by: a token Grafana cannot resolve would show up in the legend as written."""
    checked = 0
    for q in gf.panel_queries():
        if not q.is_influx:
            continue
        target = next(t for t in q.panel["targets"] if t["query"] == q.text)
        if not target.get("alias"):
            continue
        grouped = set(re.findall(r'"([^"]+)"', q.text.split("GROUP BY")[-1]))
        [measurement] = set(re.findall(r'FROM\s+"([^"]+)"', q.text))
        name = series_name(target["alias"], measurement, "last", {tag: "7" for tag in grouped})
        assert "$" not in name and "[[" not in name, f"{q.where}: legend {name!r}"
        checked += 1
    assert checked >= 8
    # The trap itself: Grafana's \w stops at the dot of a dotted tag key.
    assert series_name("disk $tag_disk.index", "m", "last", {"disk.index": "7"}) == "disk $tag_disk.index"
    assert series_name("disk [[tag_disk.index]]", "m", "last", {"disk.index": "7"}) == "disk 7"


def test_sql_macros_expand_alike_in_both_engines():
    """Grafana's MySQL macro engine ends a macro's arguments at the first ')' and splits on every
    comma: a query must mean the same whichever engine expands it."""
    tr = TimeRange(relative="6h", interval="1m", now=1_700_003_600)
    for q in gf.all_queries():
        if q.is_influx:
            continue
        variables = {"job_id": "job-1"}
        assert len({expand_mysql(q.text, tr, variables, engine) for engine in MYSQL_ENGINES}) == 1, q.where


def test_influx_queries_are_bounded_in_time():
    for q in gf.all_queries():
        if q.is_influx:
            assert "$timeFilter" in q.text, q.where


def test_sql_uses_hub_tables_and_utc():
    for q in gf.all_queries():
        if q.is_influx:
            continue
        code = re.sub(r"--[^\n]*", "", q.text)
        tables = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", code))
        assert tables <= HUB_TABLES, q.where
        assert not re.search(r"\bNOW\(|CURRENT_TIMESTAMP|SYSDATE\(|CURDATE\(", q.text, re.I), \
            f"{q.where}: DATETIMEs are naive UTC; use UTC_TIMESTAMP()"


def test_sql_status_and_phase_names_are_semconvs():
    for q in gf.all_queries():
        if q.is_influx:
            continue
        for clause in re.findall(r"status\s*(?:=|IN)\s*(\([^)]*\)|'[^']*')", q.text):
            names = set(re.findall(r"'([^']*)'", clause))
            assert names <= set(STATUS_NAMES), f"{q.where}: {names}"
        for name in re.findall(r"current_phase\s*=\s*'([^']*)'", q.text):
            assert name in PHASE_NAMES, q.where
        for order in re.findall(r"FIELD\(status,([^)]*)\)", q.text):
            assert re.findall(r"'([^']*)'", order) == STATUS_NAMES, q.where


def test_variables_used_are_defined():
    for d in gf.dashboards():
        defined = {v["name"] for v in d["templating"]["list"]}
        for q in [q for q in gf.all_queries() if q.dashboard_uid == d["uid"]]:
            builtins = INFLUX_BUILTINS if q.is_influx else MYSQL_BUILTINS
            assert referenced_variables(q.text) <= defined | builtins, q.where
    # InfluxQL string/regex literals must use an escaping format for the free-text job id.
    for q in gf.all_queries():
        if q.is_influx and "job_id" in q.text:
            assert "${job_id:regex}" in q.text and "'$job_id'" not in q.text, q.where
        if not q.is_influx and "job_id" in referenced_variables(q.text):
            assert "${job_id:sqlstring}" in q.text, q.where


def _mappings(value_mappings):
    return {k: v["text"] for m in value_mappings if m["type"] == "value" for k, v in m["options"].items()}


def test_value_mappings_match_semconv_codes():
    seen = set()
    for d, p in _all_panels():
        candidates = [p["fieldConfig"]["defaults"]["mappings"]]
        candidates += [prop["value"] for ov in p["fieldConfig"]["overrides"] for prop in ov["properties"]
                       if prop["id"] == "mappings"]
        for mappings in candidates:
            mapping = _mappings(mappings)
            if not mapping:
                continue
            if all(k.isdigit() for k in mapping):
                tables = {"phase": semconv.Phase, "status": semconv.Status, "disk": semconv.DiskStatus}
                texts = [mapping[k] for k in sorted(mapping, key=int)]
                enum = next(e for e in tables.values() if [m.label for m in e] == texts)
                for code, text in mapping.items():
                    assert enum(int(code)).label == text, (p["title"], code)
                seen.add(enum.__name__)
            else:
                assert all(k == v for k, v in mapping.items())
                if set(mapping) == RISK_MARKS:
                    continue
                assert set(mapping) <= set(STATUS_NAMES) | set(PHASE_NAMES) | set(DISK_STATUS_NAMES), p["title"]
    assert seen == {"Phase", "Status", "DiskStatus"}


def test_job_detail_variable_and_phase_names():
    d = gf.dashboard("jobpulse-job-detail")
    var, node = d["templating"]["list"]
    assert var["name"] == "job_id" and var["multi"] is False and var["includeAll"] is False
    # the job's node, for the node panels beside its speed
    assert node["name"] == "job_node" and "${job_id:sqlstring}" in node["query"] and node["hide"] == 2
    timeline = next(p for p in d["panels"] if p["type"] == "state-timeline" and semconv.JOB_PHASE.name in
                    json.dumps(p["targets"]))
    assert timeline


def test_no_annotation_shows_a_code():
    """Value mappings do not apply to annotations (an InfluxDB annotation shows its column as it is:
    public/app/plugins/datasource/influxdb/response_parser.ts transformAnnotationResponse), and InfluxQL
    has no CASE: an annotation reading a phase/status code would show "3", not "transferring"."""
    codes = {semconv.JOB_PHASE.name, semconv.JOB_STATUS.name, semconv.DISK_STATUS.name}
    for q in gf.annotation_queries():
        assert not (q.is_influx and any(name in q.text for name in codes)), q.where


# -------------------------------------------------------------------------------- alert rules
def test_rule_file_format():
    doc = gf.load_yaml(gf.RULES_FILE)
    assert doc["apiVersion"] == 1
    uids = []
    for group in doc["groups"]:
        assert group["orgId"] == 1 and group["name"] and group["folder"]
        assert re.fullmatch(r"\d+[smh]", group["interval"])
        for rule in group["rules"]:
            uids.append(rule["uid"])
            assert UID_RE.match(rule["uid"]) and rule["title"]
            refs = [q["refId"] for q in rule["data"]]
            assert len(refs) == len(set(refs)) and rule["condition"] in refs
            for q in rule["data"]:
                assert q["model"]["refId"] == q["refId"]
                assert set(q["relativeTimeRange"]) == {"from", "to"}
                if q["datasourceUid"] == "__expr__":
                    assert q["model"]["type"] in ("reduce", "threshold", "math")
                    assert q["model"]["expression"] in refs
                else:
                    assert q["datasourceUid"] == gf.MYSQL_UID, "stale detection reads the hub's MySQL"
                    assert q["model"]["format"] == "table" and q["model"]["rawQuery"] is True
            assert rule["noDataState"] in NO_DATA_STATES and rule["execErrState"] in EXEC_ERR_STATES
            assert re.fullmatch(r"\d+[smh]", rule["for"])
            assert rule["isPaused"] is False
            assert rule["annotations"]["summary"]
    assert len(uids) == len(set(uids))
    assert sorted(r["labels"]["rule"] for r in gf.rules()) == sorted(RULE_SEVERITY)


@pytest.mark.parametrize("rule", gf.rules(), ids=lambda r: r["labels"]["rule"])
def test_rule_labels_and_states(rule):
    name = rule["labels"]["rule"]
    assert rule["labels"]["severity"] == RULE_SEVERITY[name]
    sql = rule["data"][0]["model"]["rawSql"]
    if name == "pipeline_down":
        # one instance: no string column (which would become a label) in the query
        assert semconv.ALERT_LABEL_JOB_ID not in rule["data"][0]["model"]["rawSql"]
        assert rule["noDataState"] == "Alerting" and rule["execErrState"] == "Alerting"
    elif name == semconv.RULE_NODE_DOWN:
        assert f"AS {semconv.ALERT_LABEL_NODE}" in sql and "FROM nodes" in sql
        assert rule["noDataState"] == "OK" and rule["execErrState"] == "Error"
        assert "pipeline_state" in sql and "'node_down_after_seconds'" in sql, "silent while the pipeline is not fresh"
    else:
        sql = rule["data"][0]["model"]["rawSql"]
        for label in (semconv.ALERT_LABEL_JOB_ID, semconv.ALERT_LABEL_JOB_TYPE, semconv.ALERT_LABEL_MACHINE):  # the labels the hub's webhook reads
            assert f"AS {label}" in sql
        assert rule["noDataState"] == "OK", "no row is the healthy state"
        assert rule["execErrState"] == "Error"
        assert "pipeline_state" in sql, "per-job rules are silent while the pipeline is not fresh"
        assert "status IN ('running'" in sql, "only running (or stalled) jobs"
        assert "last_telemetry_at IS NOT NULL" in sql and "INTERVAL 10 SECOND" in sql, "first export interval"


def test_stuck_rule_counts_only_phases_that_move_bytes():
    [stuck] = [r for r in gf.rules() if r["labels"]["rule"] == "job_stuck"]
    sql = stuck["data"][0]["model"]["rawSql"]
    phases = set(re.findall(r"current_phase = '([^']*)'", sql))
    for listed in re.findall(r"current_phase IN \(([^)]*)\)", sql):
        phases |= set(re.findall(r"'([^']*)'", listed))
    assert phases == {p.label for p in semconv.Phase if p.moves_bytes}


def test_thresholds_come_from_hub_settings():
    for rule in gf.rules():
        sql = rule["data"][0]["model"]["rawSql"]
        assert "'stalled_after_seconds'" in sql and "'pipeline_fresh_seconds'" in sql
        if rule["labels"]["rule"] in ("job_stalled", "job_failed"):
            assert "'failed_after_seconds'" in sql


def test_dollar_signs_in_alert_files_mean_what_grafana_reads():
    """Grafana interpolates the alerting files field by field: annotations and query models are raw
    (templates keep one "$"), every other "$" is an environment reference (emulation.interpolation)."""
    env_refs = {"{JOBPULSE_HUB_URL}", "{JOBPULSE_WEBHOOK_USER}", "{JOBPULSE_WEBHOOK_PASSWORD}",
                "{JOBPULSE_PAGERDUTY_KEY}"}
    for path in gf.ALERT_FILES:
        doc = gf.load_yaml(path)
        interpolated = [v for g in doc.get("groups") or [] for r in g["rules"]
                        for k, v in r.items() if k not in ("annotations", "data")]
        interpolated += [doc.get("contactPoints"), doc.get("policies")]
        text = "\n".join(str(v) for _, v in _walk(interpolated))
        singles = re.findall(r"\$(\{?\w*\}?)", text.replace("$$", ""))
        assert set(singles) <= env_refs, f"{path.name}: $ Grafana would expand: {set(singles) - env_refs}"
    for rule in gf.rules():
        raw = json.dumps([rule["annotations"], [q["model"] for q in rule["data"]]])
        assert "$$" not in raw, f"{rule['uid']}: '$$' reaches Grafana's template engine and the datasource as it is"
        mapped = interpolation.rule_group({"name": "g", "folder": "f", "interval": "10s", "rules": [rule]}, {})
        assert mapped["rules"][0]["annotations"] == rule["annotations"]
        subject = {"pipeline_down": None, semconv.RULE_NODE_DOWN: semconv.ALERT_LABEL_NODE}.get(
            rule["labels"]["rule"], semconv.ALERT_LABEL_JOB_ID)
        if subject:
            assert f"$labels.{subject}" in rule["annotations"]["summary"]


# -------------------------------------------------------------------------------- contact points, policy
def test_contact_points():
    docs = [gf.load_yaml(gf.CONTACT_POINTS_FILE), gf.load_yaml(gf.PAGER_CONTACT_POINTS_FILE)]
    assert all(doc["apiVersion"] == 1 for doc in docs)
    points = [cp for doc in docs for cp in doc["contactPoints"]]
    receivers = {r["uid"]: (cp["name"], r) for cp in points for r in cp["receivers"]}
    assert len(receivers) == sum(len(cp["receivers"]) for cp in points)
    # The base file has nothing optional: Grafana refuses to start on an empty PagerDuty key.
    assert {r["type"] for cp in docs[0]["contactPoints"] for r in cp["receivers"]} == {"webhook"}
    name, hook = receivers["jobpulse-hub-webhook"]
    assert hook["type"] == "webhook" and hook["disableResolveMessage"] is False
    assert hook["settings"]["url"] == "${JOBPULSE_HUB_URL}/api/v1/alerts/grafana"
    assert hook["settings"]["username"].startswith("${") and hook["settings"]["password"].startswith("${")
    pagers = [r for _, r in receivers.values() if r["type"] == "pagerduty"]
    assert pagers and all(r["settings"]["integrationKey"] == "${JOBPULSE_PAGERDUTY_KEY}" for r in pagers)
    for _, r in receivers.values():
        assert UID_RE.match(r["uid"])


def _receivers(route):
    yield route["receiver"]
    for child in route.get("routes", []):
        yield from _receivers(child)


def test_hub_only_policy_feeds_the_hub():
    [tree] = gf.load_yaml(gf.POLICIES_FILE)["policies"]
    assert set(_receivers(tree)) == {"jobpulse-hub"}
    assert {semconv.ALERT_LABEL_RULE, semconv.ALERT_LABEL_JOB_ID} <= set(tree["group_by"])
    for rule in RULE_SEVERITY:
        assert re.fullmatch(tree["routes"][0]["object_matchers"][0][2], rule)


def test_pager_policy_routes_by_severity_and_feeds_the_hub():
    doc = gf.load_yaml(gf.PAGER_POLICIES_FILE)
    [tree] = doc["policies"]
    names = {cp["name"] for f in (gf.CONTACT_POINTS_FILE, gf.PAGER_CONTACT_POINTS_FILE)
             for cp in gf.load_yaml(f)["contactPoints"]}
    assert set(_receivers(tree)) <= names
    assert {semconv.ALERT_LABEL_RULE, semconv.ALERT_LABEL_JOB_ID} <= set(tree["group_by"])
    hub, *rest = tree["routes"]
    assert hub["receiver"] == "jobpulse-hub" and hub["continue"] is True
    for rule in RULE_SEVERITY:
        assert re.fullmatch(hub["object_matchers"][0][2], rule)
    by_severity = {m[2]: r["receiver"] for r in rest for m in r["object_matchers"] if m[0] == "severity"}
    assert by_severity["critical"] == "jobpulse-oncall" and by_severity["warning"] == "jobpulse-oncall-low"
    # Grafana's own DatasourceError/NoData alerts carry the rule's severity label: caught before the pager.
    first_error_route = next(i for i, r in enumerate(rest) if r["object_matchers"][0][0] == "alertname")
    critical_route = next(i for i, r in enumerate(rest) if ["severity", "=", "critical"] in r["object_matchers"])
    assert first_error_route < critical_route
    for route in tree["routes"]:
        for matcher in route["object_matchers"]:
            assert len(matcher) == 3 and matcher[1] in ("=", "!=", "=~", "!~")


# -------------------------------------------------------------------------------- the test helper itself
def test_macro_expansion_matches_grafanas():
    """emulation.macros is what the e2e tests trust: pin its output against Grafana's documented forms."""
    from .emulation.macros import TimeRange, expand_influxql, expand_mysql

    tr = TimeRange(relative="1h", interval="10s", now=1_700_003_600)
    assert expand_influxql('SELECT last("gauge") FROM "m" WHERE "job.id" =~ /^${job_id:regex}$/ AND '
                           '"a" =~ /^$job_id$/ AND $timeFilter GROUP BY time($__interval), time($interval) '
                           'LIMIT $__interval_ms', tr, {"job_id": "a.b/c(1)"}) == (
        'SELECT last("gauge") FROM "m" WHERE "job.id" =~ /^a\\.b\\/c\\(1\\)$/ AND "a" =~ /^a\\.b\\/c\\(1\\)$/ '
        'AND time >= now() - 1h GROUP BY time(10s), time(10s) LIMIT 10000')
    absolute = TimeRange(relative=None, start=1_700_000_000, end=1_700_003_600)
    assert expand_influxql("WHERE $timeFilter", absolute) == \
        "WHERE time >= 1700000000000ms and time <= 1700003600000ms"
    sql = ("SELECT $__timeGroupAlias(completed_at, $__interval), x FROM jobs "
           "WHERE id = ${job_id:sqlstring} AND $__timeFilter(COALESCE(a, b))")
    head = 'SELECT UNIX_TIMESTAMP(completed_at) DIV 10 * 10 AS "time", x FROM jobs WHERE id = \'o\'\'k\' AND '
    # mysql/macros.go: the arguments end at the first ")" and split on every comma - b is lost silently.
    assert expand_mysql(sql, tr, {"job_id": "o'k"}, "regex") == (
        head + "COALESCE(a BETWEEN FROM_UNIXTIME(1700000000) AND FROM_UNIXTIME(1700003600))")
    # sqlutil.Interpolate: split at depth 1 only.
    assert expand_mysql(sql, tr, {"job_id": "o'k"}, "sqlutil") == (
        head + "COALESCE(a, b) BETWEEN FROM_UNIXTIME(1700000000) AND FROM_UNIXTIME(1700003600)")
    with pytest.raises(KeyError):
        expand_mysql("WHERE $__unixEpochFilter(t)", tr)
    with pytest.raises(KeyError):
        expand_influxql("WHERE $unknown", tr)
