"""InfluxDB 2.7 (``influxd`` built from Go modules by deploy/influxdb2/build.sh) as our own process,
bootstrapped with influxdb-client: an org, a bucket with a retention period, the DBRP mapping that lets
InfluxQL ``/query`` reach it, and one token per client with only what that client does."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from ._errors import MissingProgramError, StartError
from ._influxdb import InfluxServer
from ._net import http_status
from ._paths import repo_root
from ._secrets import local_secret

VERSION = "2.7.12"
RETENTION_SECONDS = 30 * 24 * 3600

# Each client's token and what it may do on the org's buckets. The collector only writes; the hub reads
# InfluxQL and writes the node snapshots legacy daemons post to it; Grafana only reads.
TOKENS: dict[str, tuple[str, ...]] = {
    "collector": ("write",),
    "hub": ("read", "write"),
    "grafana": ("read",),
}


def cache_dir() -> Path:
    """Where built programs live across clones: JOBPULSE_CACHE_DIR, else $XDG_CACHE_HOME/jobpulse, else
    ~/.cache/jobpulse (deploy/influxdb2/build.sh resolves the same way)."""
    base = os.environ.get("JOBPULSE_CACHE_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jobpulse"


def influxdb2_binary(build: bool = False) -> Path:
    """The cached influxd of the pinned version; ``build``: build it when missing (minutes, once)."""
    binary = cache_dir() / "influxdb2" / "bin" / f"influxd-{VERSION}"
    if binary.exists():
        return binary
    if not build:
        raise MissingProgramError(f"InfluxDB {VERSION} is not built yet: run `make setup` "
                                  "(deploy/influxdb2/build.sh builds it from Go modules)")
    result = subprocess.run(["bash", str(repo_root() / "deploy" / "influxdb2" / "build.sh")],
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0 or not binary.exists():
        raise StartError(f"building InfluxDB {VERSION} failed (see the lines above)")
    return binary


class InfluxDB2(InfluxServer):
    """One InfluxDB 2.7 server whose data and tokens live under ``home``."""

    major = 2
    collector_config_name = "otelcol-influxdb2.yaml"

    def __init__(self, home: Path, http_port: int, database: str = "jobpulse", org: str = "jobpulse") -> None:
        super().__init__(home, "influxd2", http_port, database)
        self.org = org
        self._secrets = self.home / "secrets"

    def token(self, client: str) -> str:
        """The token made for ``client`` (one of TOKENS) when the server was set up."""
        try:
            return (self._secrets / f"{client}-token").read_text().strip()
        except FileNotFoundError:
            raise StartError(f"InfluxDB {VERSION} has no {client} token yet: start it first") from None

    def _admin_token(self) -> str:
        return local_secret("JOBPULSE_INFLUX_ADMIN_TOKEN", self._secrets / "admin-token")

    def _admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self._admin_token()}"}

    def _write_target(self, database: str, precision: str) -> tuple[str, dict[str, str]]:
        return "/api/v2/write", {"org": self.org, "bucket": database, "precision": precision}

    def start(self, timeout: float = 60.0, build: bool = False) -> None:
        if self.running:
            return
        program = influxdb2_binary(build=build)
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [str(program), "--reporting-disabled", "--log-level", "warn",
                "--bolt-path", str(self.home / "influxd.bolt"), "--engine-path", str(self.home / "engine"),
                "--sqlite-path", str(self.home / "influxd.sqlite"),
                "--http-bind-address", f"127.0.0.1:{self.http_port}"]
        # Its own config file in the data folder, never ~/.influxdbv2 or one found in the working directory.
        env = dict(os.environ, INFLUXD_CONFIG_PATH=str(self.home), INFLUXD_REPORTING_DISABLED="true")
        self._launch(argv, lambda: http_status(f"{self.url}/health") == 200, timeout,
                     f"InfluxDB {VERSION} did not start on port {self.http_port}", env=env)
        self._bootstrap()

    def _client(self):
        from influxdb_client import InfluxDBClient

        return InfluxDBClient(url=self.url, token=self._admin_token(), org=self.org, timeout=30_000)

    def _bootstrap(self) -> None:
        """Set the server up on first start; afterwards only what is missing is made (idempotent)."""
        from influxdb_client.domain.onboarding_request import OnboardingRequest
        from influxdb_client.domain.permission import Permission
        from influxdb_client.domain.permission_resource import PermissionResource
        from influxdb_client.service.setup_service import SetupService

        with self._client() as client:
            setup = SetupService(client.api_client)
            if setup.get_setup().allowed:
                # A new server: tokens of an earlier one (its data folder removed) are void.
                for client_name in TOKENS:
                    (self._secrets / f"{client_name}-token").unlink(missing_ok=True)
                setup.post_setup(onboarding_request=OnboardingRequest(
                    username="jobpulse", password=secrets.token_hex(16), org=self.org, bucket=self.database,
                    retention_period_seconds=RETENTION_SECONDS, token=self._admin_token()))
            org_id = self._org_id(client)
            self._ensure_dbrp(client, org_id, self.database)
            self._secrets.mkdir(parents=True, exist_ok=True)
            for client_name, actions in TOKENS.items():
                path = self._secrets / f"{client_name}-token"
                if path.exists():
                    continue
                # No bucket id: the permission covers every bucket of the org, the tests' own ones too.
                permissions = [Permission(action=action, resource=PermissionResource(type="buckets", org_id=org_id))
                               for action in actions]
                auth = client.authorizations_api().create_authorization(org_id=org_id, permissions=permissions)
                path.write_text(auth.token + "\n")
                path.chmod(0o600)

    def _org_id(self, client) -> str:
        return client.organizations_api().find_organizations(org=self.org)[0].id

    def _ensure_dbrp(self, client, org_id: str, name: str) -> None:
        from influxdb_client.domain.dbrp_create import DBRPCreate
        from influxdb_client.service.dbr_ps_service import DBRPsService

        bucket = client.buckets_api().find_bucket_by_name(name)
        dbrps = DBRPsService(client.api_client)
        if not dbrps.get_dbr_ps(org_id=org_id, db=name).content:
            dbrps.post_dbrp(DBRPCreate(org_id=org_id, bucket_id=bucket.id, database=name,
                                       retention_policy="autogen", default=True))

    def create_database(self, name: str) -> None:
        """A bucket with the stack's retention and its DBRP mapping (InfluxQL's CREATE DATABASE is 1.x only)."""
        from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules

        with self._client() as client:
            org_id = self._org_id(client)
            if client.buckets_api().find_bucket_by_name(name) is None:
                client.buckets_api().create_bucket(
                    bucket_name=name, org_id=org_id,
                    retention_rules=BucketRetentionRules(type="expire", every_seconds=RETENTION_SECONDS))
            self._ensure_dbrp(client, org_id, name)

    def drop_database(self, name: str) -> None:
        with self._client() as client:
            bucket = client.buckets_api().find_bucket_by_name(name)
            if bucket is not None:
                client.buckets_api().delete_bucket(bucket)

    def collector_environment(self) -> dict[str, str]:
        env = {"JOBPULSE_INFLUX_URL": self.url, "JOBPULSE_INFLUX_ORG": self.org, "JOBPULSE_INFLUX_BUCKET": self.database}
        # `validate` needs no token; Collector.start asks for it and fails plainly before set-up.
        if (self._secrets / "collector-token").exists():
            env["JOBPULSE_INFLUX_TOKEN"] = self.token("collector")
        return env

    def hub_environment(self) -> dict[str, str]:
        return {"JOBPULSE_INFLUX_URL": self.url, "JOBPULSE_INFLUX_DB": self.database,
                "JOBPULSE_INFLUX_TOKEN": self.token("hub")}

    def grafana_environment(self) -> dict[str, str]:
        return {"JOBPULSE_INFLUX_URL": self.url, "JOBPULSE_INFLUX_DB": self.database,
                "JOBPULSE_INFLUX_TOKEN": self.token("grafana")}

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"InfluxDB {VERSION} {state:8} {self.url} org={self.org} bucket={self.database} data={self.home}"
