package plexauth

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/placeholderfacts"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The placeholders of a signed-in request, {http.auth.user.id} and the
// rest (placeholderfacts.Names), are answered when something asks for them (a
// header_up, a template, the access log's user_id), not written into the
// replacer up front. Writing them costs six locked map writes and, on
// Caddy's fresh replacer, a map allocation per request; most requests
// never read them. (Replacer.Map: https://pkg.go.dev/github.com/caddyserver/caddy/v2#Replacer.Map)
//
// Who answers is what matters for security, so it stays what it was when
// plex_auth wrote them with Set:
//   - Values Set before plex_auth ran (basic_auth in front of it, vars
//     http.auth.user.id) would be answered before any provider: plex_auth
//     deletes every static http.auth.user.* value when it admits a request,
//     so an earlier identity never mixes with the Plex one. A handler that
//     Sets one after plex_auth still wins, as it did. (The deletion is
//     skipped on a server with no handler that could have set one.)
//   - One provider per request, whichever plex_auth admitted first
//     registered it; a plex_auth further down the same request (a stricter
//     block nested in a laxer one) updates it, so the innermost decides,
//     as its Set did.
//   - A map handler answers its destinations before any provider
//     registered after it, and map always runs before plex_auth in a site
//     block. If a map on the server writes one of these placeholders,
//     plex_auth Sets them there as before (placeholderfacts.Facts, learned
//     at Provision from the config), so a map cannot speak for the signed-in
//     user. docs/identity.md says so; a third-party handler that registers its
//     own provider for these names is the one case this cannot see.
//   - On an answer that does not admit, the same holds (dropIdentity):
//     earlier values are deleted, a map's are outvoted, and only an
//     identity an earlier plex_auth admitted answers.

const userPlaceholderPrefix = placeholderfacts.Prefix

// userPlaceholderKeys are the full names of the placeholders plex_auth
// answers (placeholderfacts.Names).
var userPlaceholderKeys = func() (keys [len(placeholderfacts.Names)]string) {
	for i, name := range placeholderfacts.Names {
		keys[i] = userPlaceholderPrefix + name
	}
	return keys
}()

// identityVar is the request var holding the request's requestIdentity.
const identityVar = "plex_auth.identity"

// requestIdentity is the signed-in identity of one request: what its
// placeholders answer and the values of its identity headers. It is the
// request's own, so a later handler that edits a header value in place
// reaches neither the session nor another request.
type requestIdentity struct {
	headers [4]string // Remote-User, Remote-Email, Remote-Name, Remote-Groups
	s       *Session
	tier    any
}

// placeholder answers the user placeholders; it is the request's replacer
// provider.
func (ri *requestIdentity) placeholder(key string) (any, bool) {
	if !strings.HasPrefix(key, userPlaceholderPrefix) {
		return nil, false
	}
	b := &ri.s.Boxed
	switch key[len(userPlaceholderPrefix):] {
	case "id":
		return b.ID, true
	case "username":
		return b.Username, true
	case "email":
		return b.Email, true
	case "uuid":
		return b.UUID, true
	case "title":
		return b.Title, true
	case "tier":
		return ri.tier, true
	}
	return nil, false
}

// setIdentity hands the admitted session s, at tier, to the rest of the
// request: placeholders, identity headers and the session var a nested
// plex_auth reads. The session cookie must already be stripped.
func (h *PlexAuth) setIdentity(r *http.Request, srv *caddyhttp.Server, s *Session, tier string) {
	f := h.factsFor(srv)
	ctx := r.Context()
	repl := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	// The request vars are for another plex_auth on the same request (a
	// block nested in this one, or this one in it): where this is the
	// server's only plex_auth, nobody reads them.
	var vars map[string]any
	var ri *requestIdentity
	if f.PlexAuths != 1 {
		vars, _ = ctx.Value(caddyhttp.VarsCtxKey).(map[string]any)
		ri, _ = vars[identityVar].(*requestIdentity)
	}
	fresh := ri == nil
	if fresh {
		ri = new(requestIdentity)
		if vars != nil {
			vars[identityVar] = ri
		}
	}
	ri.s, ri.tier = s, tierValue(tier)
	if f.MapWrites {
		// The values were boxed once, in Session.Prepare: a string passed
		// as an interface here would be an allocation per placeholder.
		b := &s.Boxed
		repl.Set("http.auth.user.id", b.ID)
		repl.Set("http.auth.user.username", b.Username)
		repl.Set("http.auth.user.email", b.Email)
		repl.Set("http.auth.user.uuid", b.UUID)
		repl.Set("http.auth.user.title", b.Title)
		repl.Set("http.auth.user.tier", ri.tier)
	} else {
		if f.MayBeSet {
			repl.DeleteByPrefix(userPlaceholderPrefix)
		}
		switch {
		case fresh && vars == nil:
			// The server's only plex_auth: nobody updates the answers
			// later in the request, so the session's own provider
			// answers, made once per session object and tier.
			repl.Map(sessionProvider(s, tier))
		case fresh:
			repl.Map(ri.placeholder)
		}
	}
	if vars != nil {
		// The cookie left the header; the session stays with the request,
		// so a plex_auth handler further down its path finds it and
		// applies its own rules.
		vars[h.sessionVar] = s
	}

	// These replace whatever the client sent under these names.
	ri.headers = [4]string{s.Username, s.Email, s.Title, tier}
	r.Header["Remote-User"] = ri.headers[0:1:1]
	r.Header["Remote-Email"] = ri.headers[1:2:2]
	r.Header["Remote-Name"] = ri.headers[2:3:3]
	if tier != "" {
		r.Header["Remote-Groups"] = ri.headers[3:4:4]
	} else {
		delete(r.Header, "Remote-Groups")
	}
}

// sessionProvider is the placeholder provider of s admitted at tier, as
// requestIdentity.placeholder answers them: the one made for s before if
// it was for the same tier, else a new one, kept for the next request.
func sessionProvider(s *Session, tier string) caddy.ReplacerFunc {
	if p := s.Provider.Load(); p != nil && p.Tier == tier {
		return p.Func
	}
	ri := &requestIdentity{s: s, tier: tierValue(tier)}
	p := &session.PlaceholderProvider{Tier: tier, Func: ri.placeholder}
	s.Provider.Store(p)
	return p.Func
}

// dropIdentity is setIdentity's counterpart on every answer that does not
// admit (the redirect to the login page, 401, 403, 503, the endpoints under
// the prefix): no http.auth.user.* value set before plex_auth ran stays,
// for Caddy's access log (user_id) or anything else that reads it after
// the answer, and a map writing one is outvoted by empty values, since a
// static value answers before any provider. A client would otherwise
// choose whom the log of its refused request names (vars
// http.auth.user.id {header.X-Id}). The identity an earlier plex_auth on
// the same request admitted stays: the request is that account's,
// refused here by stricter rules.
func (h *PlexAuth) dropIdentity(r *http.Request, srv *caddyhttp.Server) {
	f := h.factsFor(srv)
	if !f.MayBeSet && !f.MapWrites {
		return
	}
	ctx := r.Context()
	repl, ok := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	if f.MayBeSet {
		repl.DeleteByPrefix(userPlaceholderPrefix)
	}
	if !f.MapWrites {
		// An earlier plex_auth's provider, if any, answers again.
		return
	}
	var ri *requestIdentity
	if f.PlexAuths != 1 {
		vars, _ := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any)
		ri, _ = vars[identityVar].(*requestIdentity)
	}
	for _, key := range userPlaceholderKeys {
		var v any = ""
		if ri != nil {
			v, _ = ri.placeholder(key)
		}
		repl.Set(key, v)
	}
}

// unknownServer is what is assumed of a server plex_auth learned nothing
// about (a handler loaded outside an HTTP app): the old, eager way.
var unknownServer = placeholderfacts.Facts{MapWrites: true, MayBeSet: true}

// factsFor is what plex_auth learned about srv at Provision.
// Callers read it and never change it. The server Provision knows the
// handler serves on, if any, comes first (provision.go).
func (h *PlexAuth) factsFor(srv *caddyhttp.Server) *placeholderfacts.Facts {
	for i := range h.placeholderFacts {
		if f := &h.placeholderFacts[i]; f.Server == srv {
			return f
		}
	}
	return &unknownServer
}
