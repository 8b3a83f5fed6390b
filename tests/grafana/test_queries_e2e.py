"""Every dashboard query and every alert query, run against the real InfluxDB and MariaDB after a real
pipeline run: jobpulse-agent copy -> OpenTelemetry Collector -> InfluxDB -> jobpulse-hub (subprocess)
-> MySQL. Queries are taken from the files as they are and expanded the way Grafana would
(emulation.macros: $timeFilter, $__interval, ${job_id:regex}, $__timeFilter(col), ...); SQL runs as a
SELECT-only account with the datasource's session time zone, while the server runs at +03:00.

Jobs: a completed backup (2 disks), a failed restore (missing source), a running replication
(2 disks, throttled, snapshot phase first) that is still copying while the queries run.

The early-warning panels also run on job rows written directly (schema from the hub's migrations):
no real job can be made late or slow in a test's time, and their values must be pinned exactly.
"""

from __future__ import annotations

import json

import os
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa

from jobpulse import semconv
from jobpulse.hub.migrations import upgrade
from jobpulse.stack import NodeCollector, free_port
from tests.support.influx import ON_BOTH_INFLUXDB
from tests.support.wait import wait_for

from . import grafana_files as gf
from .emulation.alerting import evaluate, firing_jobs
from .emulation import influxql, interpolation
from .emulation.alias import series_name
from .emulation.macros import MYSQL_ENGINES, TimeRange, expand_influxql, expand_mysql
from .grafana_e2e import Agent, GrafanaMySQL, database_of, register, start_hub, unique

# The module's one pipeline run happens on each InfluxDB version (ON_BOTH_INFLUXDB on the tests that read it),
# the queries read as Grafana's datasource would.
pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def run(mariadb, influxdb, collector, tmp_path_factory):
    """One real pipeline run shared by this module's tests."""
    home = tmp_path_factory.mktemp("grafana-queries")
    db = f"t_gq_{uuid.uuid4().hex[:10]}"
    url = mariadb.create_database(db)
    node_name = unique("gq-node")
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http,
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", JOBPULSE_NODE_NAME=node_name)
    # The machine the jobs run on, reporting its host metrics (the node dashboard and job-detail's node panels).
    node = NodeCollector(home / "node", free_port(), free_port(), gateway=collector.otlp_http, node_name=node_name,
                         interval="2s")
    node.start()
    hub = start_hub(home / "hub", url, influxdb)
    grafana = GrafanaMySQL(mariadb, db)
    ids = {"completed": unique("gq-backup"), "failed": unique("gq-restore"), "running": unique("gq-repl")}
    register(hub, ids["completed"], "backup", "vm-alpha", 2)
    register(hub, ids["failed"], "restore", "vm-beta", 1)
    register(hub, ids["running"], "replication", "vm-gamma", 2)
    running = Agent(env, home / "running", ids["running"], "replication", "vm-gamma",
                    "--demo-disks", "2", "--demo-size", "32M", "--max-rate", "1M", "--snapshot-seconds", "2")
    try:
        completed = Agent(env, home / "completed", ids["completed"], "backup", "vm-alpha",
                          "--demo-disks", "2", "--demo-size", "2M", "--max-rate", "1M", "--snapshot-seconds", "1",
                          "--finalize-seconds", "1")
        failed = Agent(env, home / "failed", ids["failed"], "restore", "vm-beta",
                       str(home / "no-such-disk.img"))
        code, summary, err = completed.wait()
        assert code == 0, err
        assert summary["bytes_transferred"] == 4 * MiB
        code, _, err = failed.wait()
        assert code == 1, err

        def settled():
            done = grafana.job(ids["completed"])
            dead = grafana.job(ids["failed"])
            live = grafana.job(ids["running"])
            return (done and done["status"] == "completed" and dead and dead["status"] == "failed"
                    and live and live["status"] == "running" and live["current_phase"] == "transferring"
                    and live["bytes_transferred"] > 0 and live["eta_seconds"] is not None)

        wait_for(settled, 90, what="the hub to show the three jobs")
        # a few 5 s export intervals of transfer, so that the time series have several points
        wait_for(lambda: grafana.job(ids["running"])["progress_percent"] >= 20, 120, what="20 % of the running job")
        wait_for(lambda: grafana.rows(f"SELECT node_id FROM nodes WHERE node_id = '{node_name}'"), 30,
                 what="the node in the hub")
        yield {"ids": ids, "grafana": grafana, "influx": _influx_datasource(influxdb), "hub": hub, "summary": summary,
               "node": node_name}
    finally:
        running.stop()
        node.stop()
        hub.stop()
        mariadb.drop_database(db)


def _influx_datasource(influxdb) -> dict:
    """The InfluxDB datasource of this version's file, expanded as Grafana's provisioning does, with the
    read-only credentials the stack made for Grafana."""
    path = gf.DATASOURCES_FILE_INFLUXDB2 if influxdb.major == 2 else gf.DATASOURCES_FILE
    provisioned = interpolation.interpolate(gf.load_yaml(path)["datasources"], influxdb.grafana_environment())
    return next(ds for ds in provisioned if ds["uid"] == gf.INFLUX_UID)


def _influx_rows(datasource: dict, query: str) -> list[dict]:
    """All rows of all series of an InfluxQL answer, with tags merged in."""
    answer = influxql.query(datasource, query)
    rows = []
    for result in answer["results"]:
        assert "error" not in result, result
        for series in result.get("series", []):
            for values in series["values"]:
                rows.append(dict(zip(series["columns"], values), **(series.get("tags") or {})))
    return rows


def _sql_rows(q, grafana, variables) -> list[dict]:
    tr = TimeRange(relative="1h", interval="5s")
    # Both of Grafana's SQL macro engines must send the same SQL (emulation.macros).
    [sql] = {expand_mysql(q.text, tr, variables, engine) for engine in MYSQL_ENGINES}
    return grafana.rows(sql)


def _run(q, run, variables) -> list[dict]:
    if q.is_influx:
        tr = TimeRange(relative="1h", interval="5s")
        return _influx_rows(run["influx"], expand_influxql(q.text, tr, variables))
    return _sql_rows(q, run["grafana"], variables)


def _legends(q, run, variables) -> list[str]:
    """The legend Grafana would draw for each series of an InfluxDB panel query (emulation.alias)."""
    target = next(t for t in q.panel["targets"] if t["query"] == q.text)
    answer = influxql.query(run["influx"], expand_influxql(q.text, TimeRange(relative="1h", interval="5s"), variables))
    return [series_name(target.get("alias", ""), s["name"], s["columns"][1], s.get("tags") or {})
            for result in answer["results"] for s in result.get("series", [])]


def _queries():
    return gf.panel_queries() + gf.variable_queries() + gf.annotation_queries()


@ON_BOTH_INFLUXDB
@pytest.mark.parametrize("q", _queries(), ids=lambda q: q.where)
def test_every_dashboard_query_returns_rows(q, run):
    ids = run["ids"]
    rows = _run(q, run, {"job_id": ids["running"], "job_node": run["node"], "node": run["node"]})
    assert rows, f"{q.where}: no rows"
    title = q.panel["title"] if q.panel else q.where
    # An idle node may move no byte on its network or disks: rates of zero are real there.
    node_rate = "non_negative_derivative" in q.text
    if q.is_influx and q.fmt == "time_series" and "state-timeline" != (q.panel or {}).get("type") and not node_rate:
        values = [v for r in rows for k, v in r.items() if k != "time" and isinstance(v, (int, float))]
        assert any(v > 0 for v in values), f"{q.where}: only zeros"

    by = {
        "Jobs by status": lambda: {r["Status"]: r["Jobs"] for r in rows} == {
            "completed": 1, "failed": 1, "running": 1},
        "Active jobs": lambda: [r["Job"] for r in rows] == [ids["running"]] and rows[0]["Phase"] == "transferring"
        and 0 < rows[0]["Progress"] < 100 and rows[0]["Speed"] > 0 and rows[0]["ETA"] > 0
        and 0 <= rows[0]["Telemetry age"] < 30 and rows[0]["Transferred"] > 0 and rows[0]["Total"] == 64 * 1024 * 1024
        and rows[0]["Risk"] == "" and rows[0]["Deadline"] is None and rows[0]["Predicted end"] is not None,
        "Jobs at risk": lambda: rows == [{"Jobs at risk": 0}],
        # registered without a deadline, and no completed replication on vm-gamma to make a usual speed
        "Deadline and forecast": lambda: rows[0]["Deadline"] is None and rows[0]["Margin"] is None
        and rows[0]["Latest end"] >= rows[0]["Predicted end"] and rows[0]["Usual speed"] is None
        and rows[0]["Speed vs usual"] is None and rows[0]["Risk"] == ""
        and rows[0]["Late since"] is None and rows[0]["Slow since"] is None,
        "Recent failures": lambda: [r["Job"] for r in rows] == [ids["failed"]] and "no-such-disk" in rows[0]["Reason"],
        "Telemetry pipeline: last reconcile": lambda: 0 <= rows[0]["Reconcile age"] < 10,
        "Completed backup sizes per machine": lambda: rows == [{"Machine": "vm-alpha", "Backed up": 4 * MiB,
                                                                 "Backups": 1}],
        "Machines": lambda: rows[0]["Machine"] == "vm-alpha" and rows[0]["Backed up"] == 4 * MiB,
        "Failure rate by type": lambda: {r["Type"]: float(r["Failure rate"]) for r in rows} == {
            "backup": 0.0, "restore": 100.0},
        "Job durations by type": lambda: {r["metric"] for r in rows} == {"backup", "restore"}
        and all("time" in r for r in rows),
        "Bytes copied per interval by type": lambda: {r["metric"]: r["value"] for r in rows} == {"backup": 4 * MiB},
        "Job": lambda: rows[0]["Status"] == "running",
        "Percent per disk": lambda: [r["Disk"] for r in rows] == ["disk 0", "disk 1"],
        "Disks": lambda: [r["Disk"] for r in rows] == [0, 1] and all(r["Size"] == 32 * MiB for r in rows),
        "Bytes per disk": lambda: {r["disk.index"] for r in rows} == {"0", "1"},
        "Disk states": lambda: {r["disk.index"] for r in rows} == {"0", "1"}
        and {r["last"] for r in rows if r["last"] is not None} <= {float(s) for s in semconv.DiskStatus},
        "Phase and status": lambda: {r["last"] for r in rows if r["last"] is not None} & {
            float(semconv.Phase.TRANSFERRING), float(semconv.Status.RUNNING)},
    }
    if title in by:
        assert by[title](), f"{q.where}: unexpected rows {rows[:5]}"
    if "variable job_id" in q.where:
        assert set(ids.values()) <= {r["id"] for r in rows}
    if q.is_influx and q.panel is not None:
        legends = _legends(q, run, {"job_id": ids["running"], "job_node": run["node"], "node": run["node"]})
        assert legends and not any("$" in n or "[[" in n for n in legends), f"{q.where}: legends {legends}"
        if "[[tag_disk.index]]" in json.dumps(q.panel["targets"]):
            assert any(n.endswith(("0", "0 copied", "0 size")) for n in legends), legends


@ON_BOTH_INFLUXDB
def test_job_detail_works_for_a_finished_job_and_a_hostile_id(run):
    """The job id is free text: ${job_id:regex} / ${job_id:sqlstring} keep quotes and regex characters inert."""
    ids = run["ids"]
    for q in gf.panel_queries():
        if q.dashboard_uid == "jobpulse-job-detail" and q.panel["title"] in ("Bytes per disk", "Disks", "Job",
                                                                               "Deadline and forecast"):
            assert _run(q, run, {"job_id": ids["completed"]}), q.where
            assert _run(q, run, {"job_id": "x'); DROP TABLE jobs; --/.*"}) == [], q.where


@ON_BOTH_INFLUXDB
@pytest.mark.parametrize("rule", gf.rules(), ids=lambda r: r["labels"]["rule"])
def test_every_alert_query_runs_and_is_quiet_on_healthy_jobs(rule, run):
    ids = run["ids"]
    grafana = run["grafana"]
    columns, rows = grafana.query(rule["data"][0]["model"]["rawSql"])
    instances = evaluate(rule, grafana.query)
    if rule["labels"]["rule"] == semconv.RULE_NODE_DOWN:
        # one row per node (the session's InfluxDB may hold other tests' nodes): the run's node healthy
        assert columns == [semconv.ALERT_LABEL_NODE, "silent_seconds"]
        ours = [i for i in instances if i.labels[semconv.ALERT_LABEL_NODE] == run["node"]]
        assert [(i.value, i.firing) for i in ours] == [(0, False)]
        return
    assert not [i for i in instances if i.firing], instances
    if rule["labels"]["rule"] == "pipeline_down":
        assert len(rows) == 1 and rows[0] == (0,)
        return
    # one row per running job, labelled like the hub's webhook expects; terminal jobs never appear
    assert columns[:3] == list((semconv.ALERT_LABEL_JOB_ID, semconv.ALERT_LABEL_JOB_TYPE, semconv.ALERT_LABEL_MACHINE))
    if rule["labels"]["rule"] in (semconv.RULE_JOB_LATE, semconv.RULE_JOB_SLOW):
        # These watch only jobs with a deadline / a usual speed: the run registers none, and its machines have no
        # completed jobs of the running job's type (test_early_warning_e2e runs them on jobs that have both).
        assert rows == [] and instances == []
        return
    [instance] = instances
    assert instance.labels["job_id"] == ids["running"]
    assert instance.labels["job_type"] == "replication" and instance.labels["job_machine"] == "vm-gamma"
    assert instance.labels["rule"] == rule["labels"]["rule"] and instance.value == 0
    assert firing_jobs(instances) == set()


# ------------------------------------------------------------------------------------ early warning
MiBps = 1024 * 1024
# Fixed instants: DATETIME columns come back as written, whatever the server's and the session's zones.
DEADLINE = datetime(2031, 1, 1, 2, 0)
SINCE = datetime(2030, 12, 31, 23, 0)


def _panel_query(dashboard_uid: str, title: str):
    [q] = [q for q in gf.panel_queries() if q.dashboard_uid == dashboard_uid and q.panel["title"] == title]
    return q


@pytest.fixture
def warned(mysql_url, mariadb):
    """Jobs as the hub leaves them once the job_late / job_slow alerts have fired through its webhook."""
    upgrade(mysql_url)
    engine = sa.create_engine(mysql_url)

    def add(conn, job_id, status="running", silent=5, late=False, slow=False, **columns):
        values = {"id": job_id, "job_type": "backup", "machine": "vm-1", "status": status,
                  "current_phase": "pending" if status == "pending" else "transferring",
                  "bytes_transferred": 0, "total_bytes": 100, "transfer_speed_bps": 0, "progress_percent": 0,
                  "late": late, "slow": slow, **columns}
        names = ", ".join(values)
        telemetry = "NULL" if silent is None else f"UTC_TIMESTAMP(6) - INTERVAL {silent} SECOND"
        conn.execute(sa.text(
            f"INSERT INTO jobs ({names}, created_at, started_at, last_telemetry_at, updated_at) VALUES "
            f"({', '.join(':' + n for n in values)}, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, "
            f"UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, {telemetry}, UTC_TIMESTAMP(6))"), values)

    with engine.begin() as conn:
        # The healthy job's telemetry is older than that of the late ones: the risk comes before the age.
        add(conn, "healthy", silent=40, deadline=datetime(2031, 1, 1, 6, 0),
            predicted_completion_at=datetime(2031, 1, 1, 3, 0),
            predicted_completion_latest_at=datetime(2031, 1, 1, 4, 0),
            usual_speed_bps=80 * MiBps, speed_vs_usual=1.25)
        add(conn, "late", silent=20, late=True, late_since=SINCE, deadline=DEADLINE,
            predicted_completion_at=datetime(2031, 1, 1, 1, 30),
            predicted_completion_latest_at=datetime(2031, 1, 1, 2, 30),
            usual_speed_bps=80 * MiBps, speed_vs_usual=0.75)
        # slow while it moved, then silent: still at risk while stalled
        add(conn, "slow", status="stalled", silent=90, slow=True, slow_since=SINCE,
            usual_speed_bps=80 * MiBps, speed_vs_usual=0.25)
        add(conn, "late-slow", silent=5, late=True, late_since=SINCE, slow=True, slow_since=datetime(2031, 1, 1, 0, 0),
            deadline=DEADLINE, predicted_completion_at=datetime(2031, 1, 1, 5, 0),
            predicted_completion_latest_at=datetime(2031, 1, 1, 8, 0))
        add(conn, "waiting", status="pending", silent=None)
        # a finished job's flags stay as they were when it ended: no longer at risk
        add(conn, "ended-late", status="completed", silent=100, late=True, late_since=SINCE, deadline=DEADLINE)
    yield GrafanaMySQL(mariadb, database_of(mysql_url))
    engine.dispose()


def test_active_jobs_show_the_jobs_at_risk_first(warned):
    rows = _sql_rows(_panel_query("jobpulse-overview", "Active jobs"), warned, {})
    assert [(r["Job"], r["Risk"]) for r in rows] == [
        ("slow", "slow"), ("late", "late"), ("late-slow", "late, slow"), ("healthy", ""), ("waiting", "")]
    by_id = {r["Job"]: r for r in rows}
    assert by_id["late"]["Deadline"] == DEADLINE
    assert by_id["late"]["Predicted end"] == datetime(2031, 1, 1, 1, 30)
    assert by_id["slow"]["Deadline"] is None and by_id["slow"]["Predicted end"] is None
    assert [by_id[j]["Speed vs usual"] for j in ("healthy", "late", "slow", "late-slow")] == [125, 75, 25, None]


def test_jobs_at_risk_counts_running_and_stalled_jobs_marked_late_or_slow(warned):
    rows = _sql_rows(_panel_query("jobpulse-overview", "Jobs at risk"), warned, {})
    assert rows == [{"Jobs at risk": 3}]


def test_job_detail_shows_the_deadline_forecast_and_warnings(warned):
    q = _panel_query("jobpulse-job-detail", "Deadline and forecast")
    [late] = _sql_rows(q, warned, {"job_id": "late"})
    assert late == {"Deadline": DEADLINE, "Predicted end": datetime(2031, 1, 1, 1, 30),
                    "Latest end": datetime(2031, 1, 1, 2, 30), "Margin": -1800, "Usual speed": 80 * MiBps,
                    "Speed vs usual": 75, "Risk": "late", "Late since": SINCE, "Slow since": None}
    [both] = _sql_rows(q, warned, {"job_id": "late-slow"})
    assert both["Risk"] == "late, slow" and both["Margin"] == -6 * 3600
    assert both["Late since"] == SINCE and both["Slow since"] == datetime(2031, 1, 1, 0, 0)
    assert both["Usual speed"] is None and both["Speed vs usual"] is None, "fewer than 3 completed jobs"
    [healthy] = _sql_rows(q, warned, {"job_id": "healthy"})
    assert healthy["Risk"] == "" and healthy["Margin"] == 2 * 3600 and healthy["Speed vs usual"] == 125
    assert healthy["Late since"] is None and healthy["Slow since"] is None
    [slow] = _sql_rows(q, warned, {"job_id": "slow"})
    assert slow["Risk"] == "slow" and slow["Deadline"] is None and slow["Margin"] is None
