"""`jobpulse-grafana apply` against a STAND-IN for Grafana's HTTP API.

Grafana cannot run in this environment, so these tests use emulation.standin.GrafanaStandIn: a mock HTTP
server written from Grafana's HTTP API documentation (data source, folder, dashboard and alerting
provisioning APIs). The command talks to it over real HTTP through grafana-client, exactly as it would
talk to Grafana; nothing inside the product is faked.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest
import yaml

from jobpulse.grafana.cli import main

from . import grafana_files as gf
from .emulation.standin import GrafanaStandIn

ENV = {
    "JOBPULSE_INFLUX_URL": "http://influx.internal:8086", "JOBPULSE_INFLUX_DB": "jobpulse",
    "JOBPULSE_INFLUX_USERNAME": "grafana", "JOBPULSE_INFLUX_PASSWORD": "influx-secret",
    "JOBPULSE_GRAFANA_MYSQL_HOST": "mysql.internal:3306", "JOBPULSE_GRAFANA_MYSQL_DATABASE": "jobpulse",
    "JOBPULSE_GRAFANA_MYSQL_USER": "grafana_ro", "JOBPULSE_GRAFANA_MYSQL_PASSWORD": "mysql-secret",
    "JOBPULSE_HUB_URL": "http://hub.internal:8000", "JOBPULSE_WEBHOOK_USER": "grafana",
    "JOBPULSE_WEBHOOK_PASSWORD": "hook-secret", "JOBPULSE_PAGERDUTY_KEY": "pd-key",
    "GRAFANA_TOKEN": "sa-token", "JOBPULSE_INFLUXDB": "1",
}


@pytest.fixture
def grafana():
    with GrafanaStandIn() as standin:
        yield standin


@pytest.fixture
def files(tmp_path):
    """A private copy of dashboards/ and alerts/ so a test can edit a file."""
    shutil.copytree(gf.DASHBOARDS_DIR, tmp_path / "dashboards")
    shutil.copytree(gf.ALERTS_DIR, tmp_path / "alerts")
    return tmp_path


def apply(grafana, files, *extra, env=None):
    out = io.StringIO()
    code = main(["apply", "--url", grafana.url, "--dashboards", str(files / "dashboards"),
                "--alerts", str(files / "alerts"), *extra], environ=env or ENV, out=out)
    return code, out.getvalue()


def test_first_run_creates_everything_from_the_files(grafana, files):
    code, out = apply(grafana, files)
    assert code == 0, out
    assert set(grafana.datasources) == {gf.INFLUX_UID, gf.MYSQL_UID}
    influx = grafana.datasources[gf.INFLUX_UID]
    assert influx["url"] == "http://influx.internal:8086" and influx["jsonData"]["dbName"] == "jobpulse"
    assert influx["secureJsonData"] == {"password": "influx-secret"}
    assert grafana.datasources[gf.MYSQL_UID]["jsonData"]["timezone"] == "+00:00"
    assert grafana.folders["jobpulse"]["title"] == "jobpulse"
    for d in gf.dashboards():
        stored = grafana.dashboards[d["uid"]]
        assert stored["folderUid"] == "jobpulse"
        assert {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")} == \
            {k: v for k, v in d.items() if k not in ("id", "version")}
    assert {r["uid"] for r in gf.rules()} == set(grafana.rules)
    [group] = grafana.groups.values()
    assert group["interval"] == 10 and group["folderUid"] == "jobpulse"
    stalled = grafana.rules["jobpulse-job-stalled"]
    # $$ in the file reaches Grafana as $ (file provisioning's unescaping, applied by the command too)
    assert '$labels.job_id' in stalled["annotations"]["summary"]
    assert stalled["labels"] == {"rule": "job_stalled", "severity": "warning", "team": "jobpulse"}
    assert stalled["data"][0]["model"]["rawSql"] == gf.rules()[0]["data"][0]["model"]["rawSql"].replace("$$", "$")
    hook = grafana.contact_points["jobpulse-hub-webhook"]
    assert hook["settings"]["url"] == "http://hub.internal:8000/api/v1/alerts/grafana"
    assert hook["settings"]["password"] == "hook-secret"
    assert grafana.policy["receiver"] == "jobpulse-hub"
    assert grafana.policy["routes"][0]["continue"] is True
    assert "created" in out and out.strip().endswith("change(s)")


def test_on_influxdb2_the_datasource_carries_the_token_header_and_needs_the_token(grafana, files):
    env = {k: v for k, v in ENV.items() if k not in ("JOBPULSE_INFLUXDB", "JOBPULSE_INFLUX_USERNAME",
                                                          "JOBPULSE_INFLUX_PASSWORD")}
    code, out = apply(grafana, files, env=env)  # the default: InfluxDB 2
    assert code == 1 and not grafana.datasources
    code, out = apply(grafana, files, env=dict(env, JOBPULSE_INFLUX_TOKEN="read-token"))
    assert code == 0, out
    influx = grafana.datasources[gf.INFLUX_UID]
    assert influx["jsonData"]["httpHeaderName1"] == "Authorization" and "user" not in influx
    assert influx["secureJsonData"] == {"httpHeaderValue1": "Token read-token"}
    # the same dashboards and rules as on 1.x: only the way to InfluxDB differs
    assert {r["uid"] for r in gf.rules()} == set(grafana.rules)
    assert set(grafana.dashboards) == {d["uid"] for d in gf.dashboards()}
    # the flag wins over the variable
    code, _ = apply(grafana, files, "--influxdb", "1", env=dict(ENV, JOBPULSE_INFLUXDB="2"))
    assert code == 0 and grafana.datasources[gf.INFLUX_UID]["secureJsonData"]["password"] == "influx-secret"


def test_second_run_changes_nothing(grafana, files):
    assert apply(grafana, files)[0] == 0
    before = list(grafana.writes)
    code, out = apply(grafana, files)
    assert code == 0
    assert grafana.writes == before, "a second run must not write anything"
    assert out.strip().splitlines()[-1] == "no changes"
    assert "updated" not in out and "created" not in out


def test_a_changed_rule_updates_exactly_that_rule(grafana, files):
    assert apply(grafana, files)[0] == 0
    rules_file = files / "alerts" / "rules.yaml"
    doc = yaml.safe_load(rules_file.read_text())
    doc["groups"][0]["rules"][1]["annotations"]["summary"] = "Job {{ $labels.job_id }} is dead"
    rules_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = len(grafana.writes)
    code, out = apply(grafana, files)
    assert code == 0, out
    assert grafana.writes[before:] == [("PUT", "/api/v1/provisioning/alert-rules/jobpulse-job-failed")]
    assert grafana.rules["jobpulse-job-failed"]["annotations"]["summary"] == 'Job {{ $labels.job_id }} is dead'
    assert "alert rule jobpulse-job-failed: updated (annotations)" in out
    assert "alert rule jobpulse-job-stalled: unchanged" in out


def test_a_changed_dashboard_updates_exactly_that_dashboard(grafana, files):
    assert apply(grafana, files)[0] == 0
    path = files / "dashboards" / "json" / "jobpulse-history.json"
    dash = json.loads(path.read_text())
    dash["panels"][0]["title"] = "Backup sizes"
    path.write_text(json.dumps(dash))
    version = grafana.dashboards["jobpulse-history"]["dashboard"]["version"]
    before = len(grafana.writes)
    code, out = apply(grafana, files)
    assert code == 0
    assert grafana.writes[before:] == [("POST", "/api/dashboards/db")]
    assert grafana.dashboards["jobpulse-history"]["dashboard"]["panels"][0]["title"] == "Backup sizes"
    assert grafana.dashboards["jobpulse-history"]["dashboard"]["version"] == version + 1
    assert grafana.dashboards["jobpulse-overview"]["dashboard"]["version"] == 1


def test_a_changed_environment_updates_the_datasource_and_contact_point(grafana, files):
    assert apply(grafana, files)[0] == 0
    before = len(grafana.writes)
    env = dict(ENV, JOBPULSE_INFLUX_URL="http://influx2.internal:8086", JOBPULSE_HUB_URL="http://hub2:8000")
    code, out = apply(grafana, files, env=env)
    assert code == 0
    assert sorted(grafana.writes[before:]) == [
        ("PUT", "/api/datasources/uid/jobpulse-influxdb"),
        ("PUT", "/api/v1/provisioning/contact-points/jobpulse-hub-webhook")]
    assert grafana.datasources[gf.INFLUX_UID]["url"] == "http://influx2.internal:8086"
    # the secret the API never returns is kept (re-sent with the update)
    assert grafana.datasources[gf.INFLUX_UID]["secureJsonData"] == {"password": "influx-secret"}


def test_a_changed_interval_and_policy(grafana, files):
    assert apply(grafana, files)[0] == 0
    rules_file = files / "alerts" / "rules.yaml"
    rules_file.write_text(rules_file.read_text().replace("interval: 10s", "interval: 20s"))
    policy_file = files / "alerts" / "pagerduty" / "policies.yaml"  # ENV has a PagerDuty key
    policy_file.write_text(policy_file.read_text().replace("repeat_interval: 4h", "repeat_interval: 6h"))
    before = len(grafana.writes)
    code, out = apply(grafana, files)
    assert code == 0
    assert grafana.writes[before:] == [
        ("PUT", "/api/v1/provisioning/policies"),
        ("PUT", "/api/v1/provisioning/folder/jobpulse/rule-groups/jobpulse-jobs")]
    assert next(iter(grafana.groups.values()))["interval"] == 20
    assert grafana.policy["repeat_interval"] == "6h"


def test_dry_run_changes_nothing(grafana, files):
    code, out = apply(grafana, files, "--dry-run")
    assert code == 0
    assert grafana.writes == []
    assert "dashboard jobpulse-overview: would be created" in out
    assert "alert rule jobpulse-job-failed: would be created" in out
    assert "nothing was written" in out.strip().splitlines()[-1]
    # and after a real run, a dry run with one change reports that change only
    assert apply(grafana, files)[0] == 0
    before = list(grafana.writes)
    path = files / "alerts" / "rules.yaml"
    path.write_text(path.read_text().replace("title: Job stuck (alive, no bytes moving)", "title: Job stuck"))
    code, out = apply(grafana, files, "--dry-run")
    assert code == 0 and grafana.writes == before
    assert "alert rule jobpulse-job-stuck: would be updated (title)" in out
    assert out.count(": would be") == 1


def test_basic_auth_is_accepted(grafana, files):
    env = {k: v for k, v in ENV.items() if k != "GRAFANA_TOKEN"}
    env.update(GRAFANA_USER="admin", GRAFANA_PASSWORD="secret")
    assert apply(grafana, files, env=env)[0] == 0
    assert grafana.dashboards


def test_errors_are_one_line(grafana, files, capsys):
    code, _ = apply(grafana, files, env=dict(ENV, GRAFANA_TOKEN="wrong"))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "refused the credentials (401)" in err
    assert grafana.writes == []

    env = {k: v for k, v in ENV.items() if k != "JOBPULSE_HUB_URL"}
    code, _ = apply(grafana, files, env=env)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "JOBPULSE_HUB_URL" in err

    (files / "alerts" / "rules.yaml").write_text("apiVersion: 1\ngroups: [\n")
    code, _ = apply(grafana, files)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "not valid YAML" in err
    assert "Traceback" not in err


def test_a_server_error_stops_with_one_line_and_a_rerun_completes(grafana, files, capsys):
    grafana.failures[("POST", "/api/dashboards/db")] = 500
    code, out = apply(grafana, files)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "dashboard jobpulse-history: Server Error 500: injected failure" in err
    assert grafana.dashboards == {} and grafana.rules == {}  # stopped at the first failure
    del grafana.failures[("POST", "/api/dashboards/db")]
    code, out = apply(grafana, files)
    assert code == 0 and set(grafana.dashboards) == {d["uid"] for d in gf.dashboards()}
    assert "datasource jobpulse-influxdb: unchanged" in out  # what the first run wrote is kept


def test_unreachable_grafana(files, capsys):
    with GrafanaStandIn() as standin:
        url = standin.url  # closed when the block ends: nothing listens there any more
    out = io.StringIO()
    code = main(["apply", "--url", url, "--timeout", "2", "--dashboards", str(files / "dashboards"),
                "--alerts", str(files / "alerts")], environ=ENV, out=out)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "reach Grafana" in err


def test_usage_errors(files, capsys):
    env = {k: v for k, v in ENV.items() if k != "GRAFANA_TOKEN"}
    assert main(["apply", "--url", "http://127.0.0.1:1"], environ=env, out=io.StringIO()) == 2
    assert "GRAFANA_TOKEN" in capsys.readouterr().err
    assert main(["apply"], environ=ENV, out=io.StringIO()) == 2
    assert "GRAFANA_URL" in capsys.readouterr().err


def test_package_exports():
    import jobpulse.grafana as pkg
    assert sorted(pkg.__all__) == sorted([
        "Bundle", "Change", "FilesError", "GrafanaAuthError", "GrafanaError", "GrafanaUnreachable",
        "Provisioner", "ProvisioningError", "expand", "expand_tree", "load_bundle"])
    assert issubclass(pkg.GrafanaAuthError, pkg.GrafanaError)
    assert all(issubclass(e, pkg.ProvisioningError) for e in
               (pkg.FilesError, pkg.GrafanaError, pkg.GrafanaUnreachable))


def test_without_a_pagerduty_key_the_pager_is_left_out(grafana, files):
    env = {k: v for k, v in ENV.items() if k != "JOBPULSE_PAGERDUTY_KEY"}
    code, out = apply(grafana, files, env=env)
    assert code == 0, out
    assert set(grafana.contact_points) == {"jobpulse-hub-webhook"}
    assert grafana.policy["receiver"] == "jobpulse-hub"
    assert {r["receiver"] for r in grafana.policy["routes"]} == {"jobpulse-hub"}


def test_standin_provenance_follows_grafana(grafana, files):
    """Pins the stand-in's provenance rules (api_provisioning.go determineProvenance; alert_rules.go)."""
    import niquests

    assert apply(grafana, files)[0] == 0
    auth = {"Authorization": f"Bearer {grafana.token}"}
    rule = dict(grafana.rules["jobpulse-job-stuck"])
    url = f"{grafana.url}/api/v1/provisioning/alert-rules/jobpulse-job-stuck"
    assert rule["provenance"] == "api"
    # api -> none on a single rule: refused; the header's value does not matter, its presence does.
    r = niquests.put(url, json=rule, headers=auth | {"X-Disable-Provenance": "false"})
    assert r.status_code == 500 and "cannot change provenance from 'api' to ''" in r.json()["message"]
    # api -> none through the group: allowed.
    group = grafana.get_group("jobpulse", "jobpulse-jobs")[1]
    r = niquests.put(f"{grafana.url}/api/v1/provisioning/folder/jobpulse/rule-groups/jobpulse-jobs",
                     json=group, headers=auth | {"X-Disable-Provenance": ""})
    assert r.status_code == 200 and grafana.rules["jobpulse-job-stuck"]["provenance"] == ""
    # from none, anything goes
    assert niquests.put(url, json=rule, headers=auth).status_code == 200
    grafana.rules["jobpulse-job-stuck"]["provenance"] = "file"
    r = niquests.put(url, json=rule, headers=auth)
    assert r.status_code == 500 and "from 'file' to 'api'" in r.json()["message"]
    # A 15 s interval is not a multiple of the 10 s base interval.
    r = niquests.put(f"{grafana.url}/api/v1/provisioning/folder/jobpulse/rule-groups/jobpulse-jobs",
                     json=dict(group, interval=15, rules=[]), headers=auth)
    assert r.status_code == 400 and "divided exactly by scheduler interval" in r.json()["message"]


def test_standin_normalises_stored_queries(grafana, files):
    assert apply(grafana, files)[0] == 0
    for rule in grafana.rules.values():
        for q in rule["data"]:
            assert q["model"]["intervalMs"] > 0 and q["model"]["maxDataPoints"] == 43200
            assert list(q["model"]) == sorted(q["model"])  # re-encoded with sorted keys
    expr = next(q for q in grafana.rules["jobpulse-job-stuck"]["data"] if q["datasourceUid"] == "__expr__")
    assert expr["model"]["intervalMs"] == 1000  # the file gives none: Grafana's default


@pytest.mark.parametrize("version, unique", [("11.3.0", True), ("12.0.0", False)])
def test_standin_rule_titles_unique_per_folder_before_12(files, version, unique):
    with GrafanaStandIn(version=version) as g:
        assert apply(g, files)[0] == 0
        copy_of = dict(g.rules["jobpulse-job-stuck"], uid="another")
        if unique:
            with pytest.raises(Exception, match="should be unique"):
                g.store_rule(copy_of, "api")
        else:
            g.store_rule(copy_of, "api")
