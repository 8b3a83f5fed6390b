"""The live page at `/` in a real headless Chromium against a real stack (collector, InfluxDB, MariaDB, a
`jobpulse-hub` process) and real rate-limited `jobpulse-agent copy` runs: the job appears and its progress
rises without a reload; its view shows one bar per disk ending at 100 %; a killed agent's job turns
stalled once the real job_stalled rule fires and its webhook is applied; a hostile job id is shown as
text and runs nothing; the page keeps updating after the hub restarts. Screenshots go to .run/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.grafana import grafana_files as gf
from tests.grafana.emulation.alerting import evaluate
from tests.grafana.grafana_e2e import (
    WEBHOOK_AUTH,
    Agent,
    GrafanaMySQL,
    alert_payload,
    database_of,
    post_grafana_webhook,
)
from tests.hub._helpers import TOKEN
from tests.support.hub import hub_process
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
STALLED_AFTER = 16
HOSTILE = "<img src=x onerror=alert(1)>"
RULES = {r["labels"]["rule"]: r for r in gf.rules()}


@pytest.fixture
def stack(tmp_path, mysql_url, influxdb, collector, mariadb):
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    agents = []

    def agent(job_id, *args):
        # Registered first: the hub takes no other job from the session's shared InfluxDB (silent jobs of
        # earlier tests would make a killed agent look like a pipeline outage: pipeline_down, not stalled).
        disks = int(args[args.index("--demo-disks") + 1])
        r = httpx.post(f"{hub.url}/api/v1/jobs", headers=AUTH, timeout=10, json={
            "id": job_id, "job_type": "backup", "machine": "vm-page",
            "disks": [{"disk_index": i} for i in range(disks)]})
        assert r.status_code == 201, r.text
        a = Agent(env, tmp_path / job_id, job_id, "backup", "vm-page", *args)
        agents.append(a)
        return a

    with hub_process(tmp_path / "hub", mysql_url, influxdb, TOKEN, stalled_after=str(STALLED_AFTER),
                     webhook_user=WEBHOOK_AUTH[0], webhook_password=WEBHOOK_AUTH[1], auto_register="false") as hub:
        try:
            yield {"hub": hub, "agent": agent, "grafana": GrafanaMySQL(mariadb, database_of(mysql_url))}
        finally:
            for a in agents:
                a.stop()


def progress_of(page, job_id: str) -> float:
    row = page.locator(f"tr[data-job-id='{job_id}']")
    return float(row.locator("progress").get_attribute("value") or 0) if row.count() else -1.0


def screenshot(page, repo_root, name: str) -> None:
    out = repo_root / ".run" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / name), full_page=True)


def test_a_copy_progresses_live_and_its_view_ends_with_three_full_disk_bars(stack, open_page, repo_root):
    job_id = f"page-{uuid.uuid4().hex[:8]}"
    copy = stack["agent"](job_id, "--demo-disks", "3", "--demo-size", "6M", "--max-rate", "1M")
    w = open_page(stack["hub"].url + "/")
    page = w.page
    page.evaluate("window.__notReloaded = true")
    wait_for(lambda: 0 < progress_of(page, job_id) < 100, 60, what="the job on the page, part done")
    first = progress_of(page, job_id)
    wait_for(lambda: progress_of(page, job_id) >= first + 10, 30, what="its progress rising")
    assert page.evaluate("window.__notReloaded") is True, "updated in place, never reloaded"
    assert page.locator("#live").text_content() == "live"
    row = page.locator(f"tr[data-job-id='{job_id}']")
    assert row.locator("td.status").text_content() == "running"
    screenshot(page, repo_root, "list-running.png")

    row.locator("a").click()
    page.wait_for_selector("#job-view:not([hidden])")
    assert copy.wait()[0] == 0
    wait_for(lambda: page.locator("#disks .disk progress").count() == 3 and all(
        float(b.get_attribute("value")) == 100 for b in page.locator("#disks .disk progress").all()), 30,
             what="three disk bars at 100 %")
    assert page.locator("#job-title .status").text_content() == " (completed)"
    # the chart covers the whole job once it ended: its progress line ends at the top (100 %, y = 20)
    wait_for(lambda: page.locator("#chart polyline").count() == 2 and abs(float(
        page.locator("#chart polyline.progress").get_attribute("points").split()[-1].split(",")[1]) - 20) < 1,
             20, what="the chart of the whole job, up to 100 %")
    assert len(page.locator("#chart polyline.speed").get_attribute("points").split()) >= 5
    screenshot(page, repo_root, "job-completed.png")
    assert w.clean, (w.console_errors, w.page_errors, w.dialogs)


def test_a_killed_agent_turns_its_job_stalled_on_the_page(stack, open_page):
    job_id = f"page-dead-{uuid.uuid4().hex[:8]}"
    dead = stack["agent"](job_id, "--demo-disks", "1", "--demo-size", "64M", "--max-rate", "512K")
    w = open_page(stack["hub"].url + "/")
    wait_for(lambda: progress_of(w.page, job_id) > 0, 60, what="the job on the page")
    dead.kill()
    grafana = stack["grafana"]

    def firing():
        return [i for i in evaluate(RULES["job_stalled"], grafana.query) if i.firing and i.labels["job_id"] == job_id]

    [instance] = wait_for(firing, STALLED_AFTER + 30, what="job_stalled to fire")
    assert post_grafana_webhook(stack["hub"], [alert_payload(instance)])["applied"] == 1
    row = w.page.locator(f"tr[data-job-id='{job_id}']")
    wait_for(lambda: row.locator(".mark.stalled").count() == 1, 15, what="the stalled mark")
    assert row.locator("td.status").text_content() == "stalled" and "stalled" in row.get_attribute("class")
    assert w.clean, (w.console_errors, w.page_errors, w.dialogs)


def test_a_hostile_id_is_text_and_runs_nothing(stack, open_page):
    api = httpx.Client(base_url=stack["hub"].url, timeout=10)
    r = api.post("/api/v1/jobs", headers=AUTH, json={"id": HOSTILE, "job_type": "backup", "machine": "<b>vm</b>",
                                                       "disks": [{"disk_index": 0, "size_bytes": 10}]})
    assert r.status_code == 201, r.text
    w = open_page(stack["hub"].url + "/")
    link = w.page.get_by_role("link", name=HOSTILE)
    link.wait_for()
    assert w.page.locator("#jobs img").count() == 0 and w.page.locator("#jobs b").count() == 0
    link.click()
    w.page.wait_for_selector("#job-view:not([hidden])")
    wait_for(lambda: w.page.locator("#job-title span").first.text_content() == HOSTILE, 10, what="the job view")
    assert w.page.locator("img").count() == 0
    time.sleep(1)  # an onerror handler would have run by now
    assert w.clean, (w.console_errors, w.page_errors, w.dialogs)
    headers = httpx.get(stack["hub"].url + "/").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"


def test_the_page_keeps_updating_after_the_hub_restarts(stack, open_page):
    hub = stack["hub"]
    w = open_page(hub.url + "/")
    # (not wait_for_function: the page's CSP forbids evaluating strings, Playwright's included)
    wait_for(lambda: w.page.locator("#live").text_content() == "live", 20, what="the page live")
    hub.stop()
    wait_for(lambda: w.page.locator("#live").text_content() != "live", 20, what="the page to see the hub gone")
    hub.start()
    job_id = f"page-after-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{hub.url}/api/v1/jobs", headers=AUTH, json={"id": job_id, "job_type": "restore", "machine": "vm"})
    assert r.status_code == 201
    w.page.locator(f"tr[data-job-id='{job_id}']").wait_for(timeout=30_000)
    assert w.page.locator("#live").text_content() == "live"
    assert not w.page_errors and not w.dialogs


def test_the_demo_prints_the_page_which_shows_its_job_completed_with_three_disk_bars(open_page, tmp_path):
    """`jobpulse-stack demo` as `make demo` runs it, on a stack of its own (name and free ports)."""
    from jobpulse.stack import PORT_VARIABLES, free_port, run_dir

    name = f"test-{os.getpid()}-demo"  # a test-<pid>-* stack: reaped if this session dies
    env = dict(os.environ, JOBPULSE_DEMO_SIZE="24M")  # the demo's own knob: the same flow, shorter
    env.update({variable: str(free_port()) for variable, _default in PORT_VARIABLES.values()})
    stack = [sys.executable, "-m", "jobpulse.stack.cli", "--name", name]
    try:
        demo = subprocess.run([*stack, "demo"], env=env, capture_output=True, text=True, timeout=600)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        out = demo.stdout
        [url] = [line.split()[-1] for line in out.splitlines() if line.startswith("watch it live at ")]
        assert url == f"http://127.0.0.1:{env['JOBPULSE_HUB_PORT']}/"
        assert out.index("watch it live at") < out.index("copying 3 demo disks"), "printed at the start"
        job_id = next(line.split()[-1] for line in out.splitlines() if line.startswith("copying 3 demo disks"))
        w = open_page(url)
        row = w.page.locator(f"tr[data-job-id='{job_id}']")
        row.wait_for()
        assert row.locator("td.status").text_content() == "completed"
        row.locator("a").click()
        wait_for(lambda: w.page.locator("#disks .disk progress").count() == 3, 20, what="three disk bars")
        assert [float(b.get_attribute("value")) for b in w.page.locator("#disks .disk progress").all()] == [100] * 3
        w.page.screenshot(path=str(tmp_path / "demo.png"))
        assert w.clean, (w.console_errors, w.page_errors, w.dialogs)
    finally:
        subprocess.run([*stack, "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(run_dir() / name, ignore_errors=True)
