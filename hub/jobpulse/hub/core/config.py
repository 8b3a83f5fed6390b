"""Hub configuration: pydantic-settings, environment prefix ``JOBPULSE_``.

Precedence: keyword argument > environment variable > default. The names are the hub's
runtime contract (see docs/hub.md); the ones below "tuning" are optional extras.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{(Path.cwd() / '.run' / 'jobpulse-hub.sqlite3').as_posix()}"


@lru_cache(maxsize=16)
def parse_networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    nets = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            nets.append(ip_network(part, strict=False))
        except ValueError as err:
            raise ValueError(f"JOBPULSE_LEGACY_TRUSTED_NETWORKS: {part!r} is not a network (e.g. 10.0.0.0/8)") from err
    return tuple(nets)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBPULSE_", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "jobpulse"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_token: SecretStr | None = None
    # Credentials (docs/hub.md, "Access control"): comma-separated lists, so a token is rotated by
    # adding the new one, moving the senders, then removing the old. API_TOKEN is one more write token.
    api_token: SecretStr | None = None
    write_tokens: SecretStr | None = None
    read_tokens: SecretStr | None = None
    # Reads without a token on a non-loopback address must be asked for (else the hub refuses to start).
    public_read: bool = False
    # Origins of a GUI served elsewhere that may call the API from a browser (CORS); empty: none.
    cors_origins: str = ""
    # HTTPS: both or neither.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Browser sessions (POST /api/v1/session): lifetime, and the signing key (default: derived from
    # the tokens, so every replica with the same tokens accepts the same cookies).
    session_seconds: int = Field(default=8 * 3600, gt=0, le=7 * 86400)
    session_secret: SecretStr | None = None
    # Failed authentications per source address and minute before it gets 429.
    auth_failures_per_minute: int = Field(default=10, gt=0)
    webhook_user: str | None = None
    webhook_password: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    reconcile_interval: float = Field(default=2.0, gt=0)
    stalled_after: int = Field(default=60, gt=0)
    failed_after: int = Field(default=300, gt=0)
    # A job alive but moving no byte in the transferring phase this long is "stuck" (alert job_stuck).
    stuck_after: int = Field(default=900, gt=0)
    auto_register: bool = True
    # A node whose host metrics stop this long is down (alert node_down).
    node_down_after: int = Field(default=120, gt=0)
    # Early warning: a job whose pessimistic predicted completion stays past its deadline this
    # long is late (alert job_late); one moving below slow_ratio x its usual speed this long is
    # slow (job_slow). The usual speed is the median of the newest usual_speed_jobs completed
    # jobs of the same machine and job type.
    late_after: int = Field(default=120, gt=0)
    slow_after: int = Field(default=600, gt=0)
    slow_ratio: float = Field(default=0.5, gt=0, lt=1)
    usual_speed_jobs: int = Field(default=10, ge=3, le=1000)
    # Source networks whose legacy senders may post without the token (the seeds' senders had
    # none): comma-separated CIDRs, empty by default. Every other write still needs the token.
    legacy_trusted_networks: str = ""

    # --- tuning (optional) ---------------------------------------------------
    reconciler_enabled: bool = True
    # Points may reach InfluxDB a little after their timestamp (collector batching):
    # every window reaches this far behind the newest point already seen.
    reconcile_overlap: float = Field(default=15.0, ge=0)
    # A cycle first asks which jobs sent points (one series per job), then reads only their
    # series while they are at most this share of the jobs seen in the last hour: InfluxDB
    # pays for every series of the window's shard, reporting or not. 0: always the whole window.
    reconcile_narrow_ratio: float = Field(default=0.4, ge=0, le=1)
    # Widest window after a start or an outage; older telemetry is history, not state.
    reconcile_max_lookback: float = Field(default=3600.0, gt=0)
    reconcile_max_backoff: float = Field(default=30.0, gt=0)
    influx_timeout: float = Field(default=10.0, gt=0)
    # The pipeline is fresh while the last successful reconcile is this recent.
    freshness_seconds: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Deepest nesting of arrays/objects a body may have (the seeds' payloads need 3).
    max_body_depth: int = Field(default=32, gt=0)
    # GET /api/v1/jobs answers from a cache this many seconds old at most (0: off).
    list_cache_seconds: float = Field(default=1.0, ge=0)
    sse_poll_interval: float = Field(default=1.0, gt=0)
    sse_keepalive: float = Field(default=15.0, gt=0)
    # The node stream (WebSocket): at most this many clients; a client whose backlog of unsent
    # messages reaches node_stream_backlog is dropped, so it never delays the others.
    node_stream_clients: int = Field(default=100, gt=0)
    # The live job list (SSE), bounded the same way.
    job_stream_clients: int = Field(default=100, gt=0)
    job_stream_backlog: int = Field(default=64, gt=0)
    node_stream_backlog: int = Field(default=64, gt=0)

    @field_validator("influx_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("legacy_trusted_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.legacy_trusted_networks)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in split_list(value):
            if origin == "*" or not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"JOBPULSE_CORS_ORIGINS: {origin!r} is not an origin (e.g. https://gui.example.com)")
        return value

    @property
    def write_token_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(split_list(_secret(self.write_tokens)) + split_list(_secret(self.api_token))))

    @property
    def read_token_list(self) -> tuple[str, ...]:
        return tuple(split_list(_secret(self.read_tokens)))

    @property
    def writes_configured(self) -> bool:
        return bool(self.write_token_list)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def reads_open(self) -> bool:
        """Reads need no credential: asked for, or on loopback while no read token is set."""
        return self.public_read or (self.loopback and not self.read_token_list)

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(split_list(self.cors_origins))


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serving_problem(settings: Settings) -> str | None:
    """Why the hub must not serve with these settings (one line naming the setting), or None."""
    if not settings.loopback and not settings.read_token_list and not settings.public_read:
        return (f"JOBPULSE_HOST={settings.host} is not a loopback address, so every job, machine and error "
                "message would be readable by anyone who reaches it: set JOBPULSE_READ_TOKENS (readers then "
                "need a token or a session) or JOBPULSE_PUBLIC_READ=true (reads stay open, by choice)")
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        return "JOBPULSE_TLS_CERT_FILE and JOBPULSE_TLS_KEY_FILE go together: set both or neither"
    for name, path in (("JOBPULSE_TLS_CERT_FILE", settings.tls_cert_file), ("JOBPULSE_TLS_KEY_FILE", settings.tls_key_file)):
        if path is not None and not path.is_file():
            return f"{name}: {path} is not a readable file"
    return None
