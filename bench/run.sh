#!/usr/bin/env bash
# End-to-end benchmark: plex_auth against no auth, basic_auth and
# forward_auth in one real Caddy, driven by wrk.
#
#   bench/run.sh                      # 5 rounds of 5 s per site
#   bench/run.sh -rounds 3 -d 10s     # any flag of bench/e2e (see -h)
#   bench/run.sh -instructions        # instructions per request under callgrind
#   bench/run.sh -handler             # the handler alone, in BenchmarkSignedIn under callgrind
#   bench/run.sh -handler -against main~3   # ... and the same on another commit
#
# It builds Caddy from ./cmd/caddy into bench/out/, starts the fake plex.tv,
# signs in through the real flow, runs wrk against every site in turn and
# prints a markdown table. Only 127.0.0.1 is used. wrk comes from Debian.
# With -instructions, Caddy runs under valgrind's callgrind instead, and
# the table counts machine instructions per request (bench/e2e/instr.go);
# valgrind comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=wrk
for a in "$@"; do case "$a" in -instructions | -handler) tool=valgrind ;; esac; done
if ! command -v $tool >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq $tool >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $tool; }
fi
# bench/e2e runs as its package's test binary (the fake plex.tv is for tests
# only); built like `go run` builds a program, in a folder removed after.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
go test -c -o "$bin_dir/e2e.test" ./bench/e2e
"$bin_dir/e2e.test" -e2e "$@"
