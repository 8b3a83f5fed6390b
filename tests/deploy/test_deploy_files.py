"""deploy/: the compose file, the Helm chart, the systemd units and the Dockerfile, each checked by a real
tool that loads it as a deployment would (no container engine or cluster runs here, so none is
started): Debian's `docker-compose config`, `helm lint` / `helm template` (Helm built from Go modules by
set-up) and `kubernetes-validate` against Kubernetes 1.30's schemas, `systemd-analyze verify`, and for
the Dockerfile the wheel it installs, built and inspected. The collector configs, dashboards and
alerting files inside compose and chart must be the repository's own (one source)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "jobpulse"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
SECRETS = {name: f"value-of-{name.lower()}" for name in (
    "JOBPULSE_MYSQL_PASSWORD", "JOBPULSE_MYSQL_ROOT_PASSWORD", "JOBPULSE_INFLUX_ADMIN_PASSWORD",
    "JOBPULSE_INFLUX_TOKEN", "JOBPULSE_OTLP_TOKEN", "JOBPULSE_WRITE_TOKENS", "JOBPULSE_READ_TOKENS",
    "JOBPULSE_WEBHOOK_PASSWORD", "JOBPULSE_GRAFANA_ADMIN_PASSWORD")}
KUBERNETES = "1.30.0"


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run deploy/setup.sh")
    return found


@pytest.fixture(scope="module")
def helm() -> str:
    run = subprocess.run(["bash", str(DEPLOY / "helm" / "build.sh")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]


# --- compose ---------------------------------------------------------------------------------------

def compose_config(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JOBPULSE_")}
    return subprocess.run([tool("docker-compose"), "-f", str(COMPOSE), "config"], env=clean | env,
                          capture_output=True, text=True, cwd=COMPOSE.parent)


@pytest.fixture(scope="module")
def compose() -> dict:
    run = compose_config(SECRETS)
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(run.stdout)


def test_compose_loads_with_every_part_and_two_hubs(compose):
    services = compose["services"]
    assert {"influxdb", "mysql", "migrate", "hub-1", "hub-2", "collector", "node-collector", "grafana"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pinned image"
    assert services["collector"]["image"] == "otel/opentelemetry-collector-contrib:0.161.0"
    assert services["influxdb"]["image"].startswith("influxdb:2.7")
    assert services["influxdb"]["environment"]["INFLUXD_REPORTING_DISABLED"] == "true"
    assert re.match(r"grafana/grafana:1[12]\.", services["grafana"]["image"])
    assert services["mysql"]["image"].startswith("mysql:8")


def test_compose_start_order_follows_health(compose):
    services = compose["services"]
    for hub in ("hub-1", "hub-2"):
        assert services[hub]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[hub]["read_only"] is True
    assert services["migrate"]["command"] == ["--migrate"]
    assert services["migrate"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert services["collector"]["depends_on"]["influxdb"]["condition"] == "service_healthy"
    for name in ("influxdb", "mysql"):
        assert services[name]["healthcheck"]["test"]


def test_compose_mounts_the_repositorys_own_files(compose):
    def source(service, target):
        [found] = [v.split(":")[0] for v in compose["services"][service]["volumes"]
                   if isinstance(v, str) and v.split(":")[1] == target]
        return Path(found).resolve()

    assert source("collector", "/etc/jobpulse/otelcol-influxdb2.yaml") == ROOT / "collector-config" / "otelcol-influxdb2.yaml"
    assert source("node-collector", "/etc/jobpulse/otelcol-node.yaml") == ROOT / "collector-config" / "otelcol-node.yaml"
    assert source("node-collector", "/hostfs") == Path("/")
    assert source("grafana", "/var/lib/grafana/dashboards/jobpulse") == ROOT / "dashboards" / "json"
    assert source("grafana", "/etc/grafana/provisioning/alerting") == ROOT / "alerts"


def test_compose_refuses_to_load_without_its_secrets():
    for missing in ("JOBPULSE_MYSQL_PASSWORD", "JOBPULSE_OTLP_TOKEN", "JOBPULSE_READ_TOKENS"):
        run = compose_config({k: v for k, v in SECRETS.items() if k != missing})
        assert run.returncode != 0 and f"set {missing} in .env" in run.stderr, run.stderr
    assert not (DEPLOY / "compose" / ".env").exists(), "the filled env file is never in the repository"
    assert "deploy/compose/.env" in (ROOT / ".gitignore").read_text()
    example = (DEPLOY / "compose" / "env.example").read_text()
    assert all(f"{name}=\n" in example for name in SECRETS), "every secret listed, none filled"


# --- Helm ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(helm, tmp_path_factory) -> list[dict]:
    lint = subprocess.run([helm, "lint", str(CHART), "--kube-version", KUBERNETES], capture_output=True, text=True)
    assert lint.returncode == 0 and "0 chart(s) failed" in lint.stdout, lint.stdout + lint.stderr
    run = subprocess.run([helm, "template", "jp", str(CHART), "--kube-version", KUBERNETES],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = tmp_path_factory.mktemp("helm") / "rendered.yaml"
    out.write_text(run.stdout)
    validate = subprocess.run([str(Path(sys.executable).with_name("kubernetes-validate")), "-k", KUBERNETES,
                               "--strict", str(out)], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert validate.stdout.count("passed for resource") == len([d for d in yaml.safe_load_all(run.stdout) if d])
    return [d for d in yaml.safe_load_all(run.stdout) if d]


def find(docs, kind, name):
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_the_chart_renders_every_tier(rendered):
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in rendered)
    assert kinds == sorted([
        ("ConfigMap", "jp-collector"), ("ConfigMap", "jp-node-collector"), ("ConfigMap", "jp-dashboards"),
        ("ConfigMap", "jp-alerting"), ("Deployment", "jp-hub"), ("Service", "jp-hub"), ("Job", "jp-hub-migrate"),
        ("Deployment", "jp-collector"), ("Service", "jp-collector"), ("HorizontalPodAutoscaler", "jp-collector"),
        ("DaemonSet", "jp-node-collector")])


def test_the_hub_deployment_is_replicated_probed_and_unprivileged(rendered):
    hub = find(rendered, "Deployment", "jp-hub")
    assert hub["spec"]["replicas"] >= 2
    [container] = hub["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert container["envFrom"][0]["secretRef"]["name"], "secrets from an existing Secret"
    job = find(rendered, "Job", "jp-hub-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["--migrate"]


def test_the_chart_holds_the_repositorys_own_configs(rendered):
    assert find(rendered, "ConfigMap", "jp-collector")["data"]["otelcol-influxdb2.yaml"] == (
        ROOT / "collector-config" / "otelcol-influxdb2.yaml").read_text()
    assert find(rendered, "ConfigMap", "jp-node-collector")["data"]["otelcol-node.yaml"] == (
        ROOT / "collector-config" / "otelcol-node.yaml").read_text()
    dashboards = find(rendered, "ConfigMap", "jp-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["data"] == {p.name: p.read_text() for p in (ROOT / "dashboards" / "json").glob("*.json")}
    alerting = find(rendered, "ConfigMap", "jp-alerting")
    assert alerting["data"]["rules.yaml"] == (ROOT / "alerts" / "rules.yaml").read_text()
    for link in (CHART / "files").iterdir():
        assert link.is_symlink(), f"{link.name}: a link to the one source, not a copy"


def test_the_collectors_scale_and_the_node_collector_reads_the_host_read_only(rendered):
    hpa = find(rendered, "HorizontalPodAutoscaler", "jp-collector")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "jp-collector" and hpa["spec"]["maxReplicas"] > 1
    node = find(rendered, "DaemonSet", "jp-node-collector")["spec"]["template"]["spec"]
    [container] = node["containers"]
    [hostfs] = [m for m in container["volumeMounts"] if m["mountPath"] == "/hostfs"]
    assert hostfs["readOnly"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["JOBPULSE_NODE_ROOT_PATH"]["value"] == "/hostfs"
    assert env["JOBPULSE_OTLP_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "JOBPULSE_OTLP_TOKEN"


# --- systemd ---------------------------------------------------------------------------------------------

UNITS = {"jobpulse-hub.service": {"/opt/jobpulse/bin/jobpulse-hub": ROOT / ".venv" / "bin" / "jobpulse-hub"},
         "jobpulse-node-collector.service": {
             "/usr/local/bin/otelcol-jobpulse": ROOT / "collector-config" / "build" / "src" / "otelcol-jobpulse"}}


def installed_root(tmp_path: Path, units: dict[str, str]) -> Path:
    """A file system root where the units are installed as their comments say: programs, env files,
    and systemd's own units (verify resolves the dependencies, e.g. sysinit.target)."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit, text in units.items():
        (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
        (root / "etc/systemd/system" / unit).write_text(text)
        for target, source in UNITS[unit].items():
            (root / target.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / target.lstrip("/"))
    (root / "etc/jobpulse").mkdir(parents=True, exist_ok=True)
    for example in ("hub", "node"):
        shutil.copy(DEPLOY / "systemd" / f"{example}.env.example", root / "etc/jobpulse" / f"{example}.env")
    return root


def verify(root: Path, units) -> subprocess.CompletedProcess:
    return subprocess.run([tool("systemd-analyze"), "verify", f"--root={root}",
                           *(str(root / "etc/systemd/system" / u) for u in units)], capture_output=True, text=True)


def test_the_units_verify(tmp_path):
    units = {name: (DEPLOY / "systemd" / name).read_text() for name in UNITS}
    run = verify(installed_root(tmp_path, units), units)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    for text in units.values():
        for hardening in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "EnvironmentFile="):
            assert hardening in text
    assert "ExecStartPre=/opt/jobpulse/bin/jobpulse-hub --migrate" in units["jobpulse-hub.service"]


def test_verify_catches_a_broken_unit(tmp_path):
    broken = {"jobpulse-hub.service": (DEPLOY / "systemd" / "jobpulse-hub.service").read_text().replace(
        "ExecStart=/opt/jobpulse/bin/jobpulse-hub\n", "ExecStart=/opt/jobpulse/bin/jobpulse-hubb\n")}
    run = verify(installed_root(tmp_path, broken), broken)
    assert run.returncode != 0 and "jobpulse-hubb" in run.stderr


# --- Dockerfile -------------------------------------------------------------------------------------------

def instructions(path: Path) -> list[tuple[str, str]]:
    text = path.read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_dockerfile_builds_from_what_exists_and_runs_unprivileged(tmp_path):
    steps = instructions(DEPLOY / "docker" / "Dockerfile")
    context = tmp_path / "context"  # only what the build stage COPYs: if it builds here, it builds there
    for kind, args in steps:
        if kind == "COPY" and not args.startswith("--from"):
            *sources, dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
                target = context / (source if dest == "./" else dest.removeprefix("./"))
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "build"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
        if kind == "FROM":
            assert re.fullmatch(r"python:3\.\d+-slim( AS \w+)?", args), args
    assert ("USER", "10001") in steps
    [healthcheck] = [a for k, a in steps if k == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert ("ENTRYPOINT", '["jobpulse-hub"]') in steps
    # The wheel the image installs: built from the same sources, with the extra and command it names.
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheels"),
                            str(context)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "wheels").glob("jobpulse-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "Provides-Extra: hub" in meta
    assert re.search(r"^jobpulse-hub = jobpulse\.hub", entry, re.M)
    assert "jobpulse/hub/web/index.html" in names, "the live page ships in the wheel"
    helped = subprocess.run([str(Path(sys.executable).with_name("jobpulse-hub")), "--help"], capture_output=True,
                            text=True)
    assert "--migrate" in helped.stdout
