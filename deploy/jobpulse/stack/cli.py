"""`jobpulse-stack`: start, stop and show the local stack."""

from __future__ import annotations

import argparse
import sys

from ._errors import StackError
from ._stack import DEFAULT_INFLUXDB, INFLUXDB_VARIABLE, PORT_VARIABLES, Stack


def _epilog() -> str:
    ports = "\n".join(f"  {var:32} {default:>5}  {field.replace('_', ' ')}"
                      for field, (var, default) in PORT_VARIABLES.items())
    return f"""commands:
  up      start every part that is not running (InfluxDB, MariaDB, collector, node collector, hub)
  down    stop the parts this stack started (by pid)
  status  show each part and its address; writes nothing
  env     print the shell exports that point an agent and a hub at this stack
  demo    up, then copy demo disks through the stack and print what InfluxDB and the hub report

ports (environment variables, read when the stack is first started; a changed one applies to a part
that is stopped, and is reported as not applied while that part runs):
{ports}

InfluxDB version: {INFLUXDB_VARIABLE}=2 runs InfluxDB 2.7 (built from Go modules by `make setup`),
{INFLUXDB_VARIABLE}=1 Debian's InfluxDB 1.x; default {DEFAULT_INFLUXDB}. Like a port, it is kept by `up` and
applies to a stopped InfluxDB only.

docs/stack.md has the details."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jobpulse-stack",
        description="Run jobpulse's servers (InfluxDB, MariaDB, collector, node collector, hub) as local "
        "processes with their data under .run/<name>/.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status", "env", "demo"], help="see below")
    parser.add_argument("--name", default="local",
                        help="stack name: its folder under .run/, so several stacks can run side by side "
                        "(default: local, the demo's)")
    parser.add_argument("--no-hub", action="store_true", help="with up: leave the hub stopped")
    args = parser.parse_args(argv)

    try:
        stack = Stack(name=args.name)
        for note in stack.notes if args.command != "down" else ():
            print(f"jobpulse-stack: {note}", file=sys.stderr)
        if args.command == "demo":
            from ._demo import run_demo
            return run_demo(stack)
        if args.command == "up":
            stack.up(hub=not args.no_hub)
            for line in stack.describe():
                print(line)
        elif args.command == "down":
            stack.down()
            print("stack stopped")
        elif args.command == "status":
            for line in stack.describe():
                print(line)
        else:
            env = stack.agent_environment()
            # The headers carry the collector's token: without them the collector refuses the agent.
            for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS"):
                print(f"export {key}={env[key]}")
            for key, value in stack.hub_environment().items():
                print(f"export {key}={value}")
            print(f"export JOBPULSE_HUB_URL={stack.hub.url}")
    except StackError as exc:
        print(f"jobpulse-stack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
