#!/usr/bin/env bash
# Builds the jobpulse collector with the official OpenTelemetry Collector Builder (OCB),
# from Go modules, into collector-config/build/ (git-ignored). Cached: rebuilt only when
# manifest.yaml or this script changes. Prints the binary's path on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$here/build"
binary="$build/src/otelcol-jobpulse"
stamp="$build/manifest.sha256"
ocb_version="$(sed -n 's|^  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver \(v[0-9.]*\)$|\1|p' "$here/manifest.yaml")"

say() { printf 'collector: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  say "Go is not installed; install Go 1.21 or newer (the collector builder needs it) and run again."
  exit 1
fi

want="$(cat "$here/manifest.yaml" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
if [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  say "up to date ($binary)"
  echo "$binary"
  exit 0
fi

mkdir -p "$build/bin"
if [[ ! -x "$build/bin/builder" || "$(cat "$build/bin/builder.version" 2>/dev/null)" != "$ocb_version" ]]; then
  say "installing the collector builder $ocb_version from the Go module proxy"
  GOBIN="$build/bin" go install "go.opentelemetry.io/collector/cmd/builder@$ocb_version"
  echo "$ocb_version" > "$build/bin/builder.version"
fi

say "building from manifest.yaml (a cold build downloads modules and compiles: a few minutes on 2 cores)"
rm -rf "$build/src"
start=$SECONDS
( cd "$here" && "$build/bin/builder" --config manifest.yaml 2>&1 ) | while IFS= read -r line; do
  case "$line" in
    *"Getting go modules"*) say "fetching Go modules";;
    *"Compiling"*) say "compiling";;
    *"Compiled"*) say "compiled";;
    *Error*|*error*) printf '%s\n' "$line" >&2;;
  esac
done
if [[ ! -x "$binary" ]]; then
  say "build failed: see the messages above"
  exit 1
fi
echo "$want" > "$stamp"
say "built in $((SECONDS - start)) s: $binary"
echo "$binary"
