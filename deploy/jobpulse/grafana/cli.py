"""`jobpulse-grafana apply`: provision jobpulse's datasources, dashboards and alerting into a Grafana.

Reads the same files as Grafana's file provisioning (dashboards/, alerts/) and upserts them through the
HTTP API, writing only what differs. Exit status: 0 done (or nothing to do), 1 failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from grafana_client import GrafanaApi

from jobpulse.stack import INFLUXDB_VARIABLE, StackError, influxdb_major

from ._apply import Provisioner
from ._errors import FilesError, ProvisioningError
from ._files import load_bundle


def _default_root() -> Path:
    """The repository: the current directory if it holds the files, else this source tree's root."""
    cwd = Path.cwd()
    if (cwd / "dashboards").is_dir() and (cwd / "alerts").is_dir():
        return cwd
    return Path(__file__).resolve().parents[3]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobpulse-grafana", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply", help="create or update everything that differs from the files")
    apply.add_argument("--url", help="Grafana base URL (default: $GRAFANA_URL)")
    apply.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    apply.add_argument("--dashboards", type=Path, help="dashboards directory (default: <repo>/dashboards)")
    apply.add_argument("--alerts", type=Path, help="alerts directory (default: <repo>/alerts)")
    apply.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)")
    apply.add_argument("--influxdb", type=int, choices=(1, 2),
                       help=f"InfluxDB major version, choosing the datasource file: provisioning/datasources/ (1) "
                       f"or provisioning/datasources-influxdb2/ (2) (default: ${INFLUXDB_VARIABLE}, else 2)")
    return parser


def _credential(environ: Mapping[str, str]):
    """GRAFANA_TOKEN (service account token) wins over GRAFANA_USER / GRAFANA_PASSWORD."""
    if environ.get("GRAFANA_TOKEN"):
        return environ["GRAFANA_TOKEN"]
    if environ.get("GRAFANA_USER"):
        return (environ["GRAFANA_USER"], environ.get("GRAFANA_PASSWORD", ""))
    return None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, out=None) -> int:
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    args = _parser().parse_args(argv)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    url = args.url or environ.get("GRAFANA_URL")
    if not url:
        print("jobpulse-grafana: no Grafana URL: pass --url or set GRAFANA_URL", file=sys.stderr)
        return 2
    credential = _credential(environ)
    if credential is None:
        print("jobpulse-grafana: no credentials: set GRAFANA_TOKEN, or GRAFANA_USER and GRAFANA_PASSWORD",
              file=sys.stderr)
        return 2
    try:
        major = args.influxdb or influxdb_major(environ)
    except StackError as exc:
        print(f"jobpulse-grafana: {exc}", file=sys.stderr)
        return 2
    root = _default_root()
    try:
        bundle = load_bundle(args.dashboards or root / "dashboards", args.alerts or root / "alerts", environ,
                             influxdb=major)
        api = GrafanaApi.from_url(url, credential=credential, timeout=args.timeout)
        say(f"{'dry run against' if args.dry_run else 'provisioning'} {api.client.url.removesuffix('/api')}")
        changes = Provisioner(api, say=say, dry_run=args.dry_run).apply(bundle)
    except ProvisioningError as exc:
        print(f"jobpulse-grafana: {exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as exc:  # a malformed URL or file value
        print(f"jobpulse-grafana: {FilesError(str(exc))}", file=sys.stderr)
        return 1
    if not changes:
        say("no changes")
    elif args.dry_run:
        say(f"dry run: {len(changes)} change(s) would be made, nothing was written")
    else:
        say(f"done: {len(changes)} change(s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
