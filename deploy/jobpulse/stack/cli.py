"""`jobpulse-stack`: start, stop and show the local stack."""

from __future__ import annotations

import argparse
import sys

from ._errors import StackError
from ._stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jobpulse-stack",
        description="Run jobpulse's servers (InfluxDB, MariaDB, collector, hub) as local processes under .run/.",
    )
    parser.add_argument("command", choices=["up", "down", "status", "env", "demo"])
    parser.add_argument("--name", default="local", help="stack name: its folder under .run/ (default: local)")
    parser.add_argument("--no-hub", action="store_true", help="with up: leave the hub stopped")
    args = parser.parse_args(argv)

    stack = Stack(name=args.name)
    try:
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
            for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"):
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
