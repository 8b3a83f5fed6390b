"""The two ways of loading jobpulse into Grafana give the same objects, in every Grafana line.

One Grafana is started on the provisioning files (emulation.provisioning: Grafana's own start-up
order, folder resolution and interpolation), another gets the same files through `jobpulse-grafana
apply` (emulation.standin over real HTTP). Both must end with the same datasources, ONE folder titled
jobpulse holding every dashboard and the rule group, the same rules (annotations as Grafana renders
them: raw), contact points and policy tree.
"""

from __future__ import annotations

import io
import shutil

import pytest
import yaml

from jobpulse.grafana.cli import main

from . import grafana_files as gf
from .emulation.macros import seconds
from .emulation.provisioning import StartupFailed, provision, supported_versions
from .emulation.standin import GrafanaStandIn
from .test_provisioning import ENV

NO_PAGER = {k: v for k, v in ENV.items() if k != "JOBPULSE_PAGERDUTY_KEY"}


def grafana_files(repo, environ, *, pager: bool, influxdb: int = 1) -> dict:
    """The provisioning directories as an operator links them (docs/grafana.md)."""
    datasources = "datasources-influxdb2" if influxdb == 2 else "datasources"
    alerting = sorted((repo / "alerts").glob("*.yaml"))
    if pager:
        alerting = [p for p in alerting if p.name != "policies.yaml"] + sorted((repo / "alerts" / "pagerduty").glob("*.yaml"))
    return {"datasources": [repo / f"dashboards/provisioning/{datasources}/jobpulse.yaml"],
            "dashboard_providers": [repo / "dashboards/provisioning/dashboards/jobpulse.yaml"],
            "alerting": alerting, "environ": dict(environ, JOBPULSE_DASHBOARDS_DIR=str(repo / "dashboards/json"))}


def snapshot(g: GrafanaStandIn) -> dict:
    """What an operator would see in Grafana, without ids, versions, provenance and generated UIDs."""
    titles = {uid: f["title"] for uid, f in g.folders.items()}
    rule_keys = ("title", "condition", "data", "noDataState", "execErrState", "labels", "annotations", "isPaused")
    return {
        "folders": sorted(titles.values()),
        "datasources": {uid: {k: ds.get(k) for k in ("name", "type", "url", "user", "jsonData", "secureJsonData")}
                        for uid, ds in g.datasources.items()},
        "dashboards": {uid: (titles.get(d["folderUid"]), {k: v for k, v in d["dashboard"].items()
                                                           if k not in ("id", "version")})
                       for uid, d in g.dashboards.items()},
        "rules": {uid: dict({k: r.get(k) for k in rule_keys}, folder=titles[r["folderUID"]], group=r["ruleGroup"],
                            **{"for": seconds(r.get("for") or "0s")})
                  for uid, r in g.rules.items()},
        "groups": {(titles[f], name): grp["interval"] for (f, name), grp in g.groups.items()},
        "contact_points": {uid: {k: cp.get(k) for k in ("name", "type", "settings", "disableResolveMessage")}
                           for uid, cp in g.contact_points.items()},
        "policy": {k: v for k, v in g.policy.items() if k != "provenance"},
    }


def apply(grafana, repo, environ) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["apply", "--url", grafana.url, "--dashboards", str(repo / "dashboards"),
                 "--alerts", str(repo / "alerts")], environ=environ, out=out)
    return code, out.getvalue()


@pytest.mark.parametrize("influxdb", [1, 2], ids=["influxdb1", "influxdb2"])
@pytest.mark.parametrize("pager", [True, False], ids=["pagerduty", "hub-only"])
@pytest.mark.parametrize("version", supported_versions())
def test_files_and_command_give_the_same_objects(version, pager, influxdb, repo_root):
    environ = dict(ENV if pager else NO_PAGER, JOBPULSE_INFLUXDB=str(influxdb), JOBPULSE_INFLUX_TOKEN="read-token")
    with GrafanaStandIn(version=version) as by_files, GrafanaStandIn(version=version) as by_command:
        assert provision(by_files, **grafana_files(repo_root, environ, pager=pager, influxdb=influxdb)) == []
        code, out = apply(by_command, repo_root, environ)
        assert code == 0, out
        files, command = snapshot(by_files), snapshot(by_command)
        assert files["folders"] == ["jobpulse"]
        assert {folder for folder, _ in files["dashboards"].values()} == {"jobpulse"}
        assert set(files["dashboards"]) == {d["uid"] for d in gf.dashboards()}
        assert {r["folder"] for r in files["rules"].values()} == {"jobpulse"}
        assert ("jobpulse-oncall-pagerduty" in files["contact_points"]) == pager
        for key in files:
            assert files[key] == command[key], key
        # Annotations reach Grafana's template engine as written: one "$".
        summary = files["rules"]["jobpulse-job-stalled"]["annotations"]["summary"]
        assert "{{ $labels.job_id }}" in summary and "$$" not in summary
        # A second run of the command changes nothing, against stored (normalised) queries too.
        before = list(by_command.writes)
        code, out = apply(by_command, repo_root, environ)
        assert code == 0 and by_command.writes == before, out


@pytest.mark.parametrize("version", supported_versions())
def test_a_provider_asking_for_a_folder_uid_would_split_the_folder(version, repo_root, tmp_path):
    """The defect of the old provider file (folderUid: jobpulse): alerting creates the folder first."""
    old = yaml.safe_load((repo_root / "dashboards/provisioning/dashboards/jobpulse.yaml").read_text())
    old["providers"][0]["folderUid"] = "jobpulse"
    provider = tmp_path / "provider.yaml"
    provider.write_text(yaml.safe_dump(old))
    layout = dict(grafana_files(repo_root, NO_PAGER, pager=False), dashboard_providers=[provider])
    with GrafanaStandIn(version=version) as g:
        logged = provision(g, **layout)
        if version < "11.3":
            assert g.dashboards == {} and "same name already exists" in logged[0]
        else:
            assert sorted(f["title"] for f in g.folders.values()) == ["jobpulse", "jobpulse"]


def test_grafana_refuses_to_start_on_a_pager_without_key(repo_root):
    with GrafanaStandIn() as g, pytest.raises(StartupFailed, match="integration key"):
        provision(g, **grafana_files(repo_root, NO_PAGER, pager=True))
    with GrafanaStandIn() as g:  # the hub-only layout starts without it
        provision(g, **grafana_files(repo_root, NO_PAGER, pager=False))
        assert set(g.contact_points) == {"jobpulse-hub-webhook"}


def test_the_command_refuses_to_overwrite_file_provisioned_rules(repo_root, tmp_path, capsys):
    alerts = tmp_path / "alerts"
    shutil.copytree(repo_root / "alerts", alerts)
    rules = alerts / "rules.yaml"
    rules.write_text(rules.read_text().replace("interval: 10s", "interval: 20s", 1))
    with GrafanaStandIn() as g:
        provision(g, **grafana_files(repo_root, NO_PAGER, pager=False))
        out = io.StringIO()
        code = main(["apply", "--url", g.url, "--dashboards", str(repo_root / "dashboards"), "--alerts",
                     str(alerts)], environ=NO_PAGER, out=out)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "provisioning files" in err[0], (out.getvalue(), err)
        assert all(r["provenance"] == "file" for r in g.rules.values())
