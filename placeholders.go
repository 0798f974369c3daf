package plexauth

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	maphandler "github.com/caddyserver/caddy/v2/modules/caddyhttp/map"
)

// The placeholders of a signed-in request, {http.auth.user.id} and the
// rest (userPlaceholders), are answered when something asks for them (a
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
//     Sets one after plex_auth still wins, as it did.
//   - One provider per request, whichever plex_auth admitted first
//     registered it; a plex_auth further down the same request (a stricter
//     block nested in a laxer one) updates it, so the innermost decides,
//     as its Set did.
//   - A map handler answers its destinations before any provider
//     registered after it, and map always runs before plex_auth in a site
//     block. If any map in the config writes one of these placeholders,
//     every plex_auth in that config Sets them as before (eagerPlaceholders,
//     decided at Provision), so a map cannot speak for the signed-in user.
//     The README says so; a third-party handler that registers its own
//     provider for these names is the one case this cannot see.

// userPlaceholders are the names plex_auth answers, after the prefix.
var userPlaceholders = [...]string{"id", "username", "email", "uuid", "title", "tier"}

const userPlaceholderPrefix = "http.auth.user."

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
	s := ri.s
	switch key[len(userPlaceholderPrefix):] {
	case "id":
		return s.anyID, true
	case "username":
		return s.anyUsername, true
	case "email":
		return s.anyEmail, true
	case "uuid":
		return s.anyUUID, true
	case "title":
		return s.anyTitle, true
	case "tier":
		return ri.tier, true
	}
	return nil, false
}

// setIdentity hands the admitted session s, at tier, to the rest of the
// request: placeholders, identity headers and the session var a nested
// plex_auth reads. The session cookie must already be stripped.
func (h *PlexAuth) setIdentity(r *http.Request, s *Session, tier string) {
	ctx := r.Context()
	repl := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	vars, _ := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any)
	ri, _ := vars[identityVar].(*requestIdentity)
	fresh := ri == nil
	if fresh {
		ri = new(requestIdentity)
		if vars != nil {
			vars[identityVar] = ri
		}
	}
	ri.s, ri.tier = s, tierValue(tier)
	if h.eagerPlaceholders {
		// The values were boxed once, in Session.prepare: a string passed
		// as an interface here would be an allocation per placeholder.
		repl.Set("http.auth.user.id", s.anyID)
		repl.Set("http.auth.user.username", s.anyUsername)
		repl.Set("http.auth.user.email", s.anyEmail)
		repl.Set("http.auth.user.uuid", s.anyUUID)
		repl.Set("http.auth.user.title", s.anyTitle)
		repl.Set("http.auth.user.tier", ri.tier)
	} else {
		repl.DeleteByPrefix(userPlaceholderPrefix)
		if fresh {
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

// mapWritesUserPlaceholders reports whether a map handler anywhere in the
// HTTP app being provisioned writes one of the user placeholders, and
// where. Routes provisioned before this handler are walked as modules,
// the rest as their JSON.
func mapWritesUserPlaceholders(ctx caddy.Context) (string, bool) {
	for _, m := range ctx.Modules() {
		app, ok := m.(*caddyhttp.App)
		if !ok {
			continue
		}
		for name, srv := range app.Servers {
			if routesWrite(srv.Routes) {
				return name, true
			}
			if srv.Errors != nil && routesWrite(srv.Errors.Routes) {
				return name, true
			}
		}
	}
	return "", false
}

func routesWrite(routes caddyhttp.RouteList) bool {
	for _, rt := range routes {
		for _, raw := range rt.HandlersRaw {
			if rawWrites(raw) {
				return true
			}
		}
		for _, mh := range rt.Handlers {
			switch mh := mh.(type) {
			case *maphandler.Handler:
				if destinationsWrite(mh.Destinations) {
					return true
				}
			case *caddyhttp.Subroute:
				if routesWrite(mh.Routes) || (mh.Errors != nil && routesWrite(mh.Errors.Routes)) {
					return true
				}
			}
		}
	}
	return false
}

// rawWrites walks a handler's JSON for map handlers, at any depth.
func rawWrites(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	return jsonWrites(v)
}

func jsonWrites(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == "map" {
			var dests []string
			for _, d := range asSlice(v["destinations"]) {
				if s, ok := d.(string); ok {
					dests = append(dests, s)
				}
			}
			if destinationsWrite(dests) {
				return true
			}
		}
		for _, e := range v {
			if jsonWrites(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if jsonWrites(e) {
				return true
			}
		}
	}
	return false
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// destinationsWrite reports whether one of dests, with or without its
// braces, is a user placeholder plex_auth answers.
func destinationsWrite(dests []string) bool {
	for _, d := range dests {
		d = strings.TrimSuffix(strings.TrimPrefix(d, "{"), "}")
		name, ok := strings.CutPrefix(d, userPlaceholderPrefix)
		if !ok {
			continue
		}
		for _, p := range userPlaceholders {
			if name == p {
				return true
			}
		}
	}
	return false
}
