#!/usr/bin/env bash
# Builds InfluxDB 2.7.12's influxd from Go modules and crates (no download from a project site)
# into a cache outside the repository, reused by every clone: ${JOBPULSE_CACHE_DIR:-~/.cache/jobpulse}.
# Skips everything when the binary of the pinned version is there. Prints the binary's path last.
#
# The recipe (influxdata/influxdb v2 is MIT-licensed Go; Flux's libflux is Rust):
# - a module of our own requires cmd/influxd as a tool (`go install pkg@v2.7.12` is refused: the
#   module has replace directives);
# - cgo asks `pkg-config flux`; influxdata/pkg-config answers by building libflux with cargo from
#   the flux module's Rust source (crates from crates.io);
# - flux-core denies warnings, which newer rustc raises (influxdata/flux#5562): a RUSTC_WRAPPER
#   caps lints on every rustc call, build scripts included (RUSTFLAGS would miss them: cargo gets
#   --target, so RUSTFLAGS does not reach build dependencies);
# - the version is stamped so that /health says 2.7.12, not "dev".
set -euo pipefail

VERSION=2.7.12
PKG_CONFIG_VERSION=v0.2.14
cache="${JOBPULSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jobpulse}/influxdb2"
binary="$cache/bin/influxd-$VERSION"
say() { printf 'influxdb2: %s\n' "$*" >&2; }
fail() { say "build failed at: $1 (log: $cache/build.log)"; exit 1; }

if [[ -x "$binary" ]]; then
  say "InfluxDB $VERSION up to date ($binary)"
  echo "$binary"
  exit 0
fi
mkdir -p "$cache/src" "$cache/bin" "$cache/tools"
: > "$cache/build.log"
started=$(date +%s)
say "building InfluxDB $VERSION from Go modules: a few minutes the first time (log: $cache/build.log)"
for tool in go cargo rustc cc; do
  command -v "$tool" >/dev/null 2>&1 || fail "finding $tool on PATH (Go, a Rust toolchain and a C compiler are needed)"
done

say "1/4 installing influxdata/pkg-config $PKG_CONFIG_VERSION (answers cgo's pkg-config flux)"
GOBIN="$cache/tools" go install "github.com/influxdata/pkg-config@$PKG_CONFIG_VERSION" >>"$cache/build.log" 2>&1 \
  || fail "installing github.com/influxdata/pkg-config@$PKG_CONFIG_VERSION"

cat > "$cache/tools/rustc-cap-lints" <<'WRAPPER'
#!/bin/sh
# cargo calls: RUSTC_WRAPPER <rustc> <args...>; flux-core's #![deny(warnings)] must not fail the build.
exec "$@" --cap-lints=warn
WRAPPER
chmod +x "$cache/tools/rustc-cap-lints"

say "2/4 resolving github.com/influxdata/influxdb/v2@v$VERSION and its modules"
cd "$cache/src"
[[ -f go.mod ]] || go mod init jobpulse.local/influxd2 >>"$cache/build.log" 2>&1 || fail "creating the build module"
go get -tool "github.com/influxdata/influxdb/v2/cmd/influxd@v$VERSION" >>"$cache/build.log" 2>&1 \
  || fail "go get github.com/influxdata/influxdb/v2/cmd/influxd@v$VERSION"

say "3/4 compiling libflux (Rust) and influxd (Go): the slow step"
export PATH="$cache/tools:$PATH" RUSTC_WRAPPER="$cache/tools/rustc-cap-lints" RUSTUP_TOOLCHAIN=stable CGO_ENABLED=1
go build -o "$binary.tmp" \
  -ldflags "-X main.version=$VERSION -X main.commit=v$VERSION-jobpulse -X main.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  github.com/influxdata/influxdb/v2/cmd/influxd >>"$cache/build.log" 2>&1 || fail "go build of influxd (cgo + libflux)"

say "4/4 checking the binary"
"$binary.tmp" version 2>/dev/null | grep -q "InfluxDB $VERSION" || fail "influxd version does not say $VERSION"
mv "$binary.tmp" "$binary"
say "built InfluxDB $VERSION in $(( $(date +%s) - started )) s: $binary"
echo "$binary"
