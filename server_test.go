package plexauth

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/placeholderfacts"
)

// A handler takes its server from Provision only when the facts leave no
// doubt which it is; otherwise it asks each request.
func TestKnownServerOnlyWhenTheConfigLeavesNoDoubt(t *testing.T) {
	a, b := new(caddyhttp.Server), new(caddyhttp.Server)
	for _, c := range []struct {
		name  string
		facts []placeholderfacts.Facts
		want  *caddyhttp.Server
	}{
		{"no HTTP app", nil, nil},
		{"one server with plex_auth", []placeholderfacts.Facts{{Server: a, PlexAuths: 1}}, a},
		{"nested plex_auths on one server", []placeholderfacts.Facts{{Server: a, PlexAuths: 2}}, a},
		{"the other server has none", []placeholderfacts.Facts{{Server: b}, {Server: a, PlexAuths: 1}}, a},
		{"plex_auth on two servers", []placeholderfacts.Facts{{Server: a, PlexAuths: 1}, {Server: b, PlexAuths: 1}}, nil},
		{"plex_auth on two servers, the other order", []placeholderfacts.Facts{{Server: b, PlexAuths: 1}, {Server: a, PlexAuths: 1}}, nil},
		{"basic_auth on the other server", []placeholderfacts.Facts{{Server: a, PlexAuths: 1}, {Server: b, MayBeSet: true}}, a},
		{"basic_auth in front on the same server", []placeholderfacts.Facts{{Server: a, PlexAuths: 1, MayBeSet: true}}, a},
		{"a handler from outside Caddy on the other server", []placeholderfacts.Facts{{Server: a, PlexAuths: 1}, {Server: b, MayBeSet: true, Foreign: true}}, nil},
		{"a handler from outside Caddy on the same server", []placeholderfacts.Facts{{Server: a, PlexAuths: 1, MayBeSet: true, Foreign: true}}, nil},
		{"a handler from outside Caddy first", []placeholderfacts.Facts{{Server: b, MayBeSet: true, Foreign: true}, {Server: a, PlexAuths: 1}}, nil},
	} {
		if got := knownServer(c.facts); got != c.want {
			t.Errorf("%s: knownServer = %p, want %p", c.name, got, c.want)
		}
	}
}

// Two servers (two ports) with a plex_auth each: one lets Remote_User
// through (expected_underscore_headers), the other has a map writing
// {http.auth.user.username}. Each handler keeps to its own server's facts:
// on the first the client's Remote_User is removed, on the second the map
// never speaks for the signed-in user. A handler taking the other server
// for its own fails one or the other, whichever it takes.
func TestEachServersPlexAuthKeepsToItsOwnServersFacts(t *testing.T) {
	other := freePort(t)
	e := newEnvWithOptions(t, fmt.Sprintf(`servers :%d {
		expected_underscore_headers Remote_User
	}`, sitePort), fmt.Sprintf(`http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP} {
		header_up X-Webauth-User {http.auth.user.username}
	}
}
http://localhost:%d {
	map {header.X-Who} {http.auth.user.username} {
		default intruder
	}
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP} {
		header_up X-Webauth-User {http.auth.user.username}
	}
}`, other))
	b := e.signedInAs("friend")
	for _, target := range []string{siteURL + "/app/", fmt.Sprintf("http://localhost:%d/app/", other)} {
		resp, body := b.get(target, "X-Who", "admin", "Remote_User", "admin")
		expectStatus(t, resp, http.StatusOK, body)
		up := e.up.last().Header
		if got := up.Get("X-Webauth-User"); got != "friend" {
			t.Fatalf("%s: upstream got X-Webauth-User %q, want friend", target, got)
		}
		for k := range spoofedIdentity(up) {
			if strings.ContainsAny(k, "_.") {
				t.Fatalf("%s: upstream got the client's %s: %q", target, k, up[k])
			}
		}
		if got := up.Get("Remote-User"); got != "friend" {
			t.Fatalf("%s: upstream got Remote-User %q, want friend", target, got)
		}
	}
}
