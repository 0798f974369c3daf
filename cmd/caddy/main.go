// Command caddy is Caddy with the plex_auth module and Caddy's standard
// modules built in, so `go run ./cmd/caddy run --config examples/Caddyfile`
// works from a fresh checkout. Production builds use xcaddy instead.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The plex_auth handler.
	_ "github.com/caddy-plexauth/caddy-plexauth"
)

func main() {
	caddycmd.Main()
}
