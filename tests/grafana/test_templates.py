"""Every alerting template of the repository, parsed and rendered by Go's text/template as Grafana does.

Grafana cannot run here; emulation.templates builds a small Go program (standard library only) that
renders with the same engine, options, functions and data shapes as Grafana 11.x-12.x (sources in
that module's docstring):

* rule annotations (alerts/rules.yaml), expanded at evaluation: prelude ``$labels``/``$values``/
  ``$value``, ``missingkey=invalid``, Prometheus' + Grafana's functions, ``<no value>`` ->
  ``[no value]``. The annotations are used RAW: Grafana's alerting file provisioning does not
  env-interpolate annotations (``rules_types.go``: ``Annotations.Raw``), so ``$$labels`` stays
  ``$$labels`` and is a parse error. Rule labels are interpolated (``Labels.Value()``) first.
  ``$labels`` holds the query result's labels (the SQL's string columns) plus Grafana's own,
  never the rule's custom labels (severity, team, rule);
* notification templates in the contact points' settings (alerts/contact-points.yaml,
  alerts/pagerduty/contact-points.yaml; settings ARE env-interpolated first), rendered with
  ``missingkey=zero`` on ExtendedData built from the rendered rule annotations.

On a rule-template error Grafana logs "Error in expanding template" and keeps the raw text, which
then reaches the hub and the pager verbatim: every template must render.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from jobpulse import semconv
from jobpulse.grafana import expand

from .emulation.templates import NO_VALUE, GoTemplates, Rendered, build, extended_data, rule_data

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "alerts" / "rules.yaml"
CONTACT_POINT_FILES = [ROOT / "alerts" / "contact-points.yaml", ROOT / "alerts" / "pagerduty" / "contact-points.yaml"]
PAGER_POLICIES_FILE = ROOT / "alerts" / "pagerduty" / "policies.yaml"
# Provisioning environment (Grafana interpolates contact point settings and rule labels).
ENV = {
    "JOBPULSE_HUB_URL": "http://hub.internal:8000", "JOBPULSE_WEBHOOK_USER": "grafana",
    "JOBPULSE_WEBHOOK_PASSWORD": "hook-secret", "JOBPULSE_PAGERDUTY_KEY": "pd-key",
}

# One realistic alert instance of a per-job rule.
JOB = {
    semconv.ALERT_LABEL_JOB_ID: "bkp-20240501-0007",
    semconv.ALERT_LABEL_JOB_TYPE: semconv.JobType.BACKUP.value,
    semconv.ALERT_LABEL_MACHINE: "db-host-01",
    semconv.ALERT_LABEL_NODE: "db-host-01",
}
SILENT_SECONDS = 75.0
SILENT_HUMANIZED = "1m 15s"  # Prometheus humanizeDuration(75)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[tuple[dict, dict]]:
    """(group, rule) for every rule, the YAML as written (annotations raw, as Grafana keeps them)."""
    return [(group, rule) for group in _load(RULES_FILE)["groups"] for rule in group["rules"]]


RULES = _rules()


@pytest.fixture(scope="session")
def gotemplates() -> GoTemplates:
    started = time.monotonic()
    renderer = build()
    print(f"\ngotemplate ready in {time.monotonic() - started:.2f}s: {renderer.binary}")
    return renderer


# --- what the rule's query returns ---------------------------------------------------------------

_SQL_COMMENT = re.compile(r"--[^\n]*")
_WORD = re.compile(r"[A-Za-z_]\w*")


def select_columns(sql: str) -> list[tuple[str, str]]:
    """(expression, alias) of the outermost SELECT list of `sql`."""
    text = _SQL_COMMENT.sub("", sql)
    start = re.search(r"\bSELECT\b", text, re.I).end()
    items, depth, quote, i, item_start = [], 0, None, start, start
    while i < len(text):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'`\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(text[item_start:i])
            item_start = i + 1
        elif _WORD.match(c) and (i == 0 or not re.match(r"\w", text[i - 1])):
            word = _WORD.match(text, i).group(0)
            upper = word.upper()
            if upper == "CASE":
                depth += 1
            elif upper == "END":
                depth -= 1
            elif upper == "FROM" and depth == 0:
                break
            i += len(word)
            continue
        i += 1
    items.append(text[item_start:i])
    out = []
    for item in items:
        match = re.fullmatch(r"(.*\S)\s+AS\s+`?(\w+)`?", item.strip(), re.S | re.I)
        assert match, f"select item without an alias: {item.strip()!r}"
        out.append((match.group(1), match.group(2)))
    return out


def label_columns(rule: dict) -> list[str]:
    """The SQL's string columns: Grafana turns each into a label of the alert instance.

    A plain column reference ``t.<col>`` is typed from the hub's table (jobpulse.hub.models: jobs, or
    nodes for a node rule); anything else (the CASE) is the rule's numeric value, of which there is
    exactly one."""
    from jobpulse.hub.models import Job, Node

    [source] = [q for q in rule["data"] if q["datasourceUid"] != "__expr__"]
    labels, numbers = [], []
    for expr, alias in select_columns(source["model"]["rawSql"]):
        ref = re.fullmatch(r"\w+\.(\w+)", expr.strip())
        if ref:
            table = Node.__table__ if "FROM nodes" in source["model"]["rawSql"] else Job.__table__
            column = table.c.get(ref.group(1))
            assert column is not None, f"{rule['uid']}: cannot type column {expr!r}"
            (labels if column.type.python_type is str else numbers).append(alias)
        else:
            numbers.append(alias)
    assert len(numbers) == 1, f"{rule['uid']}: one numeric column expected, got {numbers}"
    return labels


def instance_labels(group: dict, rule: dict) -> dict:
    """``$labels`` of one firing instance: result labels + Grafana's; not the rule's own labels."""
    result = {name: JOB[name] for name in label_columns(rule)}
    return dict(result, alertname=rule["title"], grafana_folder=group["folder"],
                __alert_rule_uid__=rule["uid"])


def instance_data(group: dict, rule: dict) -> dict:
    labels = instance_labels(group, rule)
    result = {k: v for k, v in labels.items() if k in JOB}
    return rule_data(labels, {"A": (result, SILENT_SECONDS), "B": (result, SILENT_SECONDS), "C": (result, 1.0)})


def rule_templates(rule: dict) -> dict[str, str]:
    """Every template Grafana expands for a rule: annotations raw, labels env-interpolated."""
    out = {f"annotations.{k}": v for k, v in (rule.get("annotations") or {}).items()}
    for key, value in (rule.get("labels") or {}).items():
        value = expand(str(value), ENV)
        if "{{" in value:
            out[f"labels.{key}"] = value
    return out


def is_job_rule(rule: dict) -> bool:
    return semconv.ALERT_LABEL_JOB_ID in label_columns(rule)


def problems(rule: dict, key: str, rendered: Rendered) -> list[str]:
    """What is wrong with one rendered rule template (empty: Grafana shows it as intended)."""
    if not rendered.ok:
        return [f"Grafana cannot expand it and keeps the raw text: {rendered.error}"]
    out = []
    text, output = rendered.text, rendered.output
    if NO_VALUE in output:
        out.append(f"renders {NO_VALUE!r}: {output!r}")
    if "{{" in output or "}}" in output:
        out.append(f"template syntax left in the output: {output!r}")
    if key == "annotations.summary" and is_job_rule(rule) and JOB[semconv.ALERT_LABEL_JOB_ID] not in output:
        out.append(f"the job id is not in the summary: {output!r}")
    if (key == "annotations.summary" and semconv.ALERT_LABEL_NODE in label_columns(rule)
            and JOB[semconv.ALERT_LABEL_NODE] not in output):
        out.append(f"the node is not in the summary: {output!r}")
    if "humanizeDuration" in text and SILENT_HUMANIZED not in output:
        out.append(f"humanizeDuration of {SILENT_SECONDS} s not rendered as {SILENT_HUMANIZED!r}: {output!r}")
    return out


def render_rule(gotemplates: GoTemplates, group: dict, rule: dict) -> dict[str, Rendered]:
    data = instance_data(group, rule)
    templates = rule_templates(rule)
    rendered = gotemplates.render("rule", [{"name": k, "text": v, "data": data} for k, v in templates.items()])
    return dict(zip(templates, rendered))


RULE_TEMPLATE_CASES = [
    pytest.param(group, rule, key, id=f"{rule['uid']}-{key}")
    for group, rule in RULES for key in rule_templates(rule)
]


# --- the emulator itself -------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "expected"), [
    (75, "1m 15s"), (0.5, "500ms"), (0, "0s"), (1, "1s"), (12.345, "12.35s"), (60.5, "1m 0s"),
    (899.99, "14m 59s"), (3600, "1h 0m 0s"), (86400 + 3600, "1d 1h 0m 0s"), (-1, "-1s"), (0.0001, "100us"),
])
def test_humanize_duration_is_prometheus(gotemplates, seconds, expected):
    """Cases from prometheus/common helpers/templates (HumanizeDuration) tests."""
    data = rule_data({}, {"B": ({}, seconds)})
    r = gotemplates.render_one("rule", "{{ humanizeDuration $values.B.Value }}", data)
    assert (r.ok, r.output) == (True, expected), r.error


def test_rule_data_prints_like_grafana(gotemplates):
    data = rule_data({"job_id": "j1", "alertname": "Job stalled"}, {"B": ({"job_id": "j1"}, 75.5)})
    r = gotemplates.render_one("rule", "{{ $values.B }}|{{ $values.B.Value }}|{{ $labels }}|{{ humanize 12345 }}|"
                                       "{{ toUpper \"ab\" }}|{{ match \"^j\" $labels.job_id }}", data)
    assert r.output == "75.5|75.5|alertname=Job stalled, job_id=j1|12.35k|AB|true", r.error


def test_every_grafana_rule_function_exists(gotemplates):
    """A template naming any function of Grafana's rule-template set parses (Prometheus expander +
    Grafana's defaultFuncs)."""
    names = ["query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml", "match",
             "title", "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel", "stripPort", "stripDomain",
             "humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "toTime",
             "pathPrefix", "externalURL", "parseDuration", "filterLabels", "filterLabelsRe", "removeLabels",
             "removeLabelsRe", "mergeLabelValues"]
    text = "".join(f"{{{{ if false }}}}{{{{ {name} }}}}{{{{ end }}}}" for name in names)
    r = gotemplates.render_one("rule", text, rule_data({}, {}))
    assert (r.ok, r.output) == (True, ""), r.error


# --- the rules' annotations ----------------------------------------------------------------------

def test_label_columns_come_from_the_sql():
    by_rule = {rule["labels"]["rule"]: label_columns(rule) for _, rule in RULES}
    job_labels = [semconv.ALERT_LABEL_JOB_ID, semconv.ALERT_LABEL_JOB_TYPE, semconv.ALERT_LABEL_MACHINE]
    assert by_rule == {"job_stalled": job_labels, "job_failed": job_labels, "job_stuck": job_labels,
                       "job_late": job_labels, "job_slow": job_labels,
                       "pipeline_down": [], "node_down": [semconv.ALERT_LABEL_NODE]}


def test_every_rule_has_templates():
    assert RULE_TEMPLATE_CASES
    for _, rule in RULES:
        assert "summary" in (rule.get("annotations") or {}), rule["uid"]


@pytest.mark.parametrize(("group", "rule", "key"), RULE_TEMPLATE_CASES)
def test_rule_template_renders(gotemplates, group, rule, key):
    rendered = render_rule(gotemplates, group, rule)[key]
    assert problems(rule, key, rendered) == [], f"{rule['uid']} {key}: {rendered.text!r}"


def test_job_summaries_humanize_the_silence(gotemplates):
    """The check on humanizeDuration is not vacuous: every per-job summary uses it and shows 1m 15s."""
    job_rules = [(g, r) for g, r in RULES if is_job_rule(r)]
    assert job_rules
    for group, rule in job_rules:
        summary = render_rule(gotemplates, group, rule)["annotations.summary"]
        assert summary.ok and SILENT_HUMANIZED in summary.output, (rule["uid"], summary)


def test_double_dollar_would_be_caught(gotemplates):
    """``$$labels`` (the provisioning escape, which Grafana does NOT undo in annotations) fails to parse,
    and the checks above report it: applied to each job summary rewritten with ``$$``."""
    for group, rule in RULES:
        summary = rule["annotations"]["summary"]
        if "$labels" not in summary:
            continue
        escaped = summary.replace("$labels", "$$labels")
        [r] = gotemplates.render("rule", [{"name": "summary", "text": escaped, "data": instance_data(group, rule)}])
        assert not r.ok and "bad character U+0024 '$'" in r.error, r
        assert r.stored == escaped  # what Grafana would then send to the hub and the pager
        assert problems(rule, "annotations.summary", r)


# --- negative checks: the emulator bites ---------------------------------------------------------

def test_double_dollar_is_a_parse_error(gotemplates):
    r = gotemplates.render_one("rule", "Job {{ $$labels.job_id }} stalled", rule_data(JOB, {}), name="summary")
    assert not r.ok
    assert "bad character U+0024 '$'" in r.error
    assert "error parsing template __alert_summary" in r.error  # Prometheus' wording, inside Grafana's
    assert r.error.startswith("failed to expand template '{{- $labels := .Labels -}}")


def test_unknown_function_is_a_parse_error(gotemplates):
    r = gotemplates.render_one("rule", "{{ humanizeDurations $values.B.Value }}", rule_data(JOB, {"B": (JOB, 75)}))
    assert not r.ok and 'function "humanizeDurations" not defined' in r.error


def test_unknown_field_of_a_value_is_an_execution_error(gotemplates):
    r = gotemplates.render_one("rule", "{{ $values.B.Valu }}", rule_data(JOB, {"B": (JOB, 75)}))
    assert not r.ok and "can't evaluate field Valu" in r.error


def test_humanize_duration_of_a_value_struct_fails(gotemplates):
    """``$values.B`` prints as its number but is a struct: functions need ``$values.B.Value``."""
    r = gotemplates.render_one("rule", "{{ humanizeDuration $values.B }}", rule_data(JOB, {"B": (JOB, 75)}))
    assert not r.ok and "can't convert" in r.error and "to float" in r.error


def test_missing_label_renders_no_value(gotemplates):
    """missingkey=invalid: a missing key, even dotted further, renders [no value] (no error)."""
    r = gotemplates.render_one("rule", "{{ $labels.nope }}/{{ $labels.nope.x }}", rule_data(JOB, {}))
    assert (r.ok, r.output) == (True, f"{NO_VALUE}/{NO_VALUE}"), r.error


@pytest.mark.parametrize(("group", "rule"), [pytest.param(g, r, id=r["uid"]) for g, r in RULES])
def test_custom_rule_labels_are_not_in_labels(gotemplates, group, rule):
    """The rule's own labels (severity, team, rule) are not in ``$labels`` at evaluation time."""
    texts = [{"name": k, "text": f"{{{{ $labels.{k} }}}}", "data": instance_data(group, rule)}
             for k in rule["labels"]]
    assert "severity" in rule["labels"]
    for r in gotemplates.render("rule", texts):
        assert (r.ok, r.output) == (True, NO_VALUE), r


def test_job_summaries_survive_a_datasource_error(gotemplates):
    """On a query error (execErrState Error -> DatasourceError) Grafana expands the annotations with no
    result labels and no $values (state/cache.go expandAnnotationsAndLabels): the templates must still
    render, or Grafana would keep the raw template text as the page's summary."""
    for group, rule in RULES:
        if not is_job_rule(rule):
            continue
        labels = {"alertname": rule["title"], "grafana_folder": group["folder"], "__alert_rule_uid__": rule["uid"]}
        data = {"Labels": labels, "Values": {}, "Value": ""}
        summary = render_rule_with(gotemplates, rule, data)["annotations.summary"]
        assert summary.ok and "{{" not in summary.stored, (rule["uid"], summary)


def render_rule_with(gotemplates: GoTemplates, rule: dict, data: dict) -> dict[str, Rendered]:
    templates = rule_templates(rule)
    return dict(zip(templates, gotemplates.render("rule", [{"name": k, "text": v, "data": data}
                                                           for k, v in templates.items()])))


# --- notification templates in the contact points ------------------------------------------------

def _settings_templates() -> list[tuple[str, str, str, str, str]]:
    """(file, contact point, receiver uid, setting key) -> template, for every setting with ``{{``
    after Grafana's env interpolation of contact point settings."""
    out = []
    for path in CONTACT_POINT_FILES:
        for cp in _load(path).get("contactPoints") or []:
            for receiver in cp["receivers"]:
                for key, value in (receiver.get("settings") or {}).items():
                    if isinstance(value, str) and "{{" in expand(value, ENV):
                        out.append((path.relative_to(ROOT).as_posix(), cp["name"], receiver["uid"], key,
                                    expand(value, ENV)))
    return out


SETTINGS_TEMPLATES = _settings_templates()


def notification_data(gotemplates: GoTemplates, group: dict, rule: dict, receiver: str) -> dict:
    """ExtendedData of the one-alert group a firing instance of `rule` makes (policies group_by)."""
    annotations = {k.split(".", 1)[1]: r.stored
                   for k, r in render_rule(gotemplates, group, rule).items() if k.startswith("annotations.")}
    labels = dict(rule["labels"], **instance_labels(group, rule))
    labels.pop("__alert_rule_uid__")  # private (__...__) labels are removed before notifying
    group_by = _load(PAGER_POLICIES_FILE)["policies"][0]["group_by"]
    alert = {"Status": "firing", "Labels": labels, "Annotations": annotations,
             "StartsAt": "2024-05-01T10:11:12Z", "EndsAt": "0001-01-01T00:00:00Z",
             "Fingerprint": "0123456789abcdef", "Values": {"B": SILENT_SECONDS, "C": 1.0}}
    return extended_data(receiver=receiver, alerts=[alert],
                         group_labels={k: labels[k] for k in group_by if k in labels})


def test_pager_contact_points_have_templates():
    assert any(f.startswith("alerts/pagerduty/") for f, *_ in SETTINGS_TEMPLATES), SETTINGS_TEMPLATES


@pytest.mark.parametrize(("where", "contact_point", "uid", "key", "text"),
                         [pytest.param(*t, id=f"{t[2]}-{t[3]}") for t in SETTINGS_TEMPLATES])
def test_notification_template_renders(gotemplates, where, contact_point, uid, key, text):
    for group, rule in RULES:
        data = notification_data(gotemplates, group, rule, contact_point)
        r = gotemplates.render_one("notification", text, data, name=key)
        assert r.ok, f"{where} {uid}.{key} for {rule['uid']}: {r.error}"
        assert r.output.strip(), f"{where} {uid}.{key} renders empty for {rule['uid']}: {text!r}"
        assert "{{" not in r.output and "<no value>" not in r.output and NO_VALUE not in r.output, r.output
        if ".CommonAnnotations.summary" in text:
            assert data["CommonAnnotations"]["summary"] in r.output
        if ".CommonLabels.rule" in text:
            assert rule["labels"]["rule"] in r.output


def test_notification_typo_bites(gotemplates):
    data = extended_data(receiver="jobpulse-oncall", alerts=[{"Status": "firing", "Labels": {"rule": "job_failed"}}],
                         group_labels={"rule": "job_failed"})
    typo = gotemplates.render_one("notification", "{{ .CommonLabel.rule }}", data)
    assert not typo.ok and "can't evaluate field CommonLabel" in typo.error
    missing = gotemplates.render_one("notification", "{{ .CommonLabels.rules }}", data)
    assert (missing.ok, missing.output) == (True, "")  # missingkey=zero: the non-empty check catches it
    assert gotemplates.render_one("notification", "{{ .CommonLabels.rule }}", data).output == "job_failed"
