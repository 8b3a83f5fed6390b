#!/usr/bin/env bash
# Sets a fresh Debian machine up for jobpulse, installing only what is missing:
# Debian packages (InfluxDB 1.x, MariaDB, Python venv), the Python virtualenv in .venv,
# the collector built with the OpenTelemetry Collector Builder, and InfluxDB 2.7 built from Go
# modules (both cached: a fresh machine compiles for some minutes once). Safe to run again.
# No server is started as a system service: the stack runs them as our own processes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'setup: %s\n' "$*"; }

need=()
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The live page's browser tests drive Debian's Chromium (never a downloaded browser).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The deployment files' validators (tests/deploy): Debian's docker-compose loads the compose file
# without an engine; systemd-analyze verifies the units.
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# Self-signed certificates for the TLS tests (hub and collector).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# cgo (InfluxDB 2's sqlite and libflux) needs a C compiler.
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
# mysqlclient (the hub's C MySQL driver) builds against MariaDB's client library.
pkg-config --exists libmariadb 2>/dev/null || need+=(pkg-config libmariadb-dev)
# wrk drives the hub's HTTP benchmark (bench/bench_hub.py): a Python client measures itself.
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# The tools `jobpulse-agent run` adapts, for the adapter tests and the pipe benchmark.
for tool in restic rclone rsync pv; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
if ((${#need[@]})); then
  say "installing Debian packages: ${need[*]}"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  # Keep the packages' own service scripts from starting system-wide servers.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null; $sudo chmod +x "$policy"; created_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if ((created_policy)); then $sudo rm -f "$policy"; fi
else
  say "Debian packages present (influxdb, mariadb-server, python3-venv, chromium, openssl, docker-compose, systemd, libmariadb-dev, wrk, restic, rclone, rsync, pv)"
fi

# Go 1.21+ fetches the newer toolchain the collector's modules ask for (go 1.26) from the module
# proxy by itself (GOTOOLCHAIN=auto); Debian bookworm's golang-go (1.19) is too old for that.
go_minor="$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -z "$go_minor" || "$go_minor" -lt 21 ]]; then
  say "Go 1.21 or newer is needed on PATH to build the collector (found: $(go env GOVERSION 2>/dev/null || echo none))"
  exit 1
fi

stamp=".venv/.installed"
want="$(sha256sum pyproject.toml setup.py | sha256sum | cut -d' ' -f1)"
if [[ ! -x .venv/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "installing the Python package and its dependencies into .venv"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # grafana-client needs niquests, whose urllib3-future wheel installs a .pth that overwrites
  # the real urllib3 at every interpreter start (requests, and schemathesis through it, then
  # break). Built from its sdist with URLLIB3_NO_OVERRIDE it stays in its own namespace.
  if compgen -G '.venv/lib/python3*/site-packages/urllib3_future.pth' >/dev/null; then
    .venv/bin/pip uninstall -q -y urllib3-future urllib3
    rm -rf .venv/lib/python3*/site-packages/urllib3
  fi
  URLLIB3_NO_OVERRIDE=1 .venv/bin/pip install -q --no-binary urllib3-future -e '.[hub,mysqlclient,grafana,stack,test]'
  echo "$want" > "$stamp"
else
  say "Python environment up to date (.venv)"
fi

bash collector-config/build.sh >/dev/null
# InfluxDB 2.7, what users run and the stack's default, from Go modules and crates into ~/.cache/jobpulse.
bash deploy/influxdb2/build.sh >/dev/null
# Helm, for `helm lint` / `helm template` of deploy/helm (tests/deploy): built from Go modules once.
bash deploy/helm/build.sh >/dev/null
say "ready"
