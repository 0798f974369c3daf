package plexauth

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/placeholderfacts"
)

// serverOf is the Caddy server the request came through (nil outside
// one): its options say which header spellings get this far, and what the
// config has in it may give the placeholders a value. Where Provision
// could tell the server (knownServer), that one, without the lookup in the
// request's context, a chain of context values compared key by key (about
// 340 instructions a request, bench/run.sh -instructions).
func (h *PlexAuth) serverOf(r *http.Request) *caddyhttp.Server {
	if h.server != nil {
		return h.server
	}
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return srv
}

// knownServer is the server a handler provisioned with these facts serves
// on, when they leave no doubt, else nil (ServeHTTP then asks the
// request). A handler serves on one server only, and its own config is in
// that server's routes while it is provisioned, so the walk counts it
// there. No doubt means: exactly one server of the HTTP app has plex_auth
// handlers, and no server has a handler from outside Caddy's own modules,
// which might hold a plex_auth where the walk does not look.
func knownServer(facts []placeholderfacts.Facts) *caddyhttp.Server {
	var srv *caddyhttp.Server
	for _, f := range facts {
		if f.Foreign {
			return nil
		}
		if f.PlexAuths > 0 {
			if srv != nil {
				return nil
			}
			srv = f.Server
		}
	}
	return srv
}
