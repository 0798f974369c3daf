#!/bin/sh
# Builds Caddy with plex_auth from this checkout, with xcaddy, exactly as
# the Dockerfile's builder stage does (it runs this script), so a machine
# without Docker (CI) proves the same build step.
#
#   scripts/xcaddy-build.sh [output]      default output: ./caddy
#
# CADDY_VERSION picks the Caddy version (the caddy:*-builder images set it);
# default: the version go.mod requires. xcaddy is installed with `go install`
# when it is not on PATH.
#
# Why `@v0.0.0=<dir>`: with a bare `--with <module>=<dir>` xcaddy still asks
# the module proxy for the module (it is not published under that path yet)
# and fails; naming a version makes it use the replacement directory only.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-./caddy}
module=github.com/caddy-plexauth/caddy-plexauth
version=${CADDY_VERSION:-$(awk '$1 == "github.com/caddyserver/caddy/v2" { print $2; exit }' "$here/go.mod")}

if ! command -v xcaddy >/dev/null 2>&1; then
	GOBIN=$(mktemp -d)
	export GOBIN
	trap 'rm -rf "$GOBIN"' EXIT
	go install github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
	PATH=$GOBIN:$PATH
fi

xcaddy build "$version" --output "$out" --with "$module@v0.0.0=$here"

# The binary must carry the module, or the build proved nothing.
"$out" list-modules | grep -qx 'http.handlers.plex_auth' || {
	echo "xcaddy-build: $out has no http.handlers.plex_auth module" >&2
	exit 1
}
echo "built $out: Caddy $version with $module"
