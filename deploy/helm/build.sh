#!/usr/bin/env bash
# Builds Helm from Go modules (no download from a project site) into the shared cache, once:
# ${JOBPULSE_CACHE_DIR:-~/.cache/jobpulse}/tools/bin/helm-<version>. Prints the binary's path last.
set -euo pipefail
version="v3.22.0"
cache="${JOBPULSE_CACHE_DIR:-$HOME/.cache/jobpulse}/tools"
binary="$cache/bin/helm-$version"
say() { printf 'helm: %s\n' "$*" >&2; }
if [[ -x "$binary" ]]; then
  say "Helm $version up to date ($binary)"
  echo "$binary"
  exit 0
fi
say "building Helm $version from Go modules (about 2 minutes the first time)"
mkdir -p "$cache/build"
if ! GOBIN="$cache/build" go install "helm.sh/helm/v3/cmd/helm@$version" 2>"$cache/build.log"; then
  say "build failed (log: $cache/build.log)"
  exit 1
fi
mkdir -p "$cache/bin"
mv "$cache/build/helm" "$binary"
say "built $binary"
echo "$binary"
