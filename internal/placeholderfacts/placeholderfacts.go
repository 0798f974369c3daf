// Package placeholderfacts reads, from a loaded Caddy config, what each
// server's handlers may do to the user placeholders ({http.auth.user.id}
// and the rest of [Names]) on a request through that server: whether a
// map handler writes one, whether a handler may Set one before plex_auth
// runs, and how many plex_auth handlers there are. The root decides, from
// these facts, how it hands the placeholders to Caddy (answered when
// asked, or Set up front); this package only walks the config.
//
// The walk covers each server's routes, error routes and named routes
// (invoke), and the routes a handler holds (subroute, handle_response of
// reverse_proxy and intercept): routes already provisioned as modules and
// routes still in their JSON. Caddy's config structure:
// https://caddyserver.com/docs/json/apps/http/servers/
package placeholderfacts

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/intercept"
	maphandler "github.com/caddyserver/caddy/v2/modules/caddyhttp/map"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Prefix begins the name of every user placeholder.
const Prefix = "http.auth.user."

// Names are the user placeholders plex_auth answers, after Prefix.
// Callers read it and never change it.
var Names = [...]string{"id", "username", "email", "uuid", "title", "tier"}

// plexAuthID is the module ID of the plex_auth handler. A provisioned
// handler is known by it as its JSON is known by its "handler" name: Caddy
// loads a handler by that ID, and one ID names one module.
const plexAuthID = "http.handlers.plex_auth"

// Facts is what one server of the HTTP app says about who else may give
// the user placeholders a value on a request through it. Another server's
// handlers never run on its requests.
type Facts struct {
	// Server and Name are the server and its name in the HTTP app (nil
	// and "" from OfRoutes).
	Server *caddyhttp.Server
	Name   string
	// MapWrites: a map handler writes one of Names (it would answer
	// before a replacer provider plex_auth registers after it).
	MapWrites bool
	// MayBeSet: a handler may Set an http.auth.user.* value before
	// plex_auth runs: authentication (basic_auth), vars naming one, or a
	// handler from outside Caddy's own modules, which might do anything.
	MayBeSet bool
	// PlexAuths counts the plex_auth handlers of the server.
	PlexAuths int
	// Foreign: a handler from outside Caddy's own modules (plex_auth
	// aside), which might hold a plex_auth where the walk does not look.
	Foreign bool
}

// Learn returns the Facts of every server of the HTTP app being
// provisioned in ctx (the routes provisioned before the caller as
// modules, the rest as their JSON), in no particular order. Outside an
// HTTP app it returns nil.
func Learn(ctx caddy.Context) []Facts {
	for _, m := range ctx.Modules() {
		app, ok := m.(*caddyhttp.App)
		if !ok {
			continue
		}
		var all []Facts
		for name, srv := range app.Servers {
			lists := []caddyhttp.RouteList{srv.Routes}
			if srv.Errors != nil {
				lists = append(lists, srv.Errors.Routes)
			}
			for _, rt := range srv.NamedRoutes {
				if rt != nil {
					lists = append(lists, caddyhttp.RouteList{*rt})
				}
			}
			f := OfRoutes(lists...)
			f.Server, f.Name = srv, name
			all = append(all, f)
		}
		return all
	}
	return nil
}

// OfRoutes is what the handlers of routes, at any depth, say; Server and
// Name are left empty.
func OfRoutes(routes ...caddyhttp.RouteList) Facts {
	var f Facts
	w := walker{f: &f}
	for _, rl := range routes {
		w.routes(rl)
	}
	return f
}

type walker struct {
	f *Facts
}

func (w walker) routes(routes caddyhttp.RouteList) {
	for _, rt := range routes {
		for _, raw := range rt.HandlersRaw {
			var v any
			if json.Unmarshal(raw, &v) == nil {
				w.json(v)
			}
		}
		for _, mh := range rt.Handlers {
			w.handler(mh)
		}
	}
}

// handler looks at a provisioned handler, and into the routes it holds.
func (w walker) handler(mh caddyhttp.MiddlewareHandler) {
	if m, ok := mh.(caddy.Module); ok && m.CaddyModule().ID == plexAuthID {
		w.f.PlexAuths++
		return
	}
	switch mh := mh.(type) {
	case *maphandler.Handler:
		w.destinations(mh.Destinations)
	case *caddyhttp.VarsMiddleware:
		for k := range *mh {
			w.varName(k)
		}
	case *caddyauth.Authentication:
		w.f.MayBeSet = true
	case *caddyhttp.Subroute:
		w.routes(mh.Routes)
		if mh.Errors != nil {
			w.routes(mh.Errors.Routes)
		}
	case *reverseproxy.Handler:
		for _, rh := range mh.HandleResponse {
			w.routes(rh.Routes)
		}
	case *intercept.Intercept:
		for _, rh := range mh.HandleResponse {
			w.routes(rh.Routes)
		}
	default:
		if !caddysModule(reflect.TypeOf(mh)) {
			w.f.MayBeSet, w.f.Foreign = true, true
		}
	}
}

// json looks at a handler's JSON, and every handler nested in it.
func (w walker) json(v any) {
	switch v := v.(type) {
	case map[string]any:
		if name, ok := v["handler"].(string); ok {
			w.jsonHandler(name, v)
		}
		for _, e := range v {
			w.json(e)
		}
	case []any:
		for _, e := range v {
			w.json(e)
		}
	}
}

func (w walker) jsonHandler(name string, v map[string]any) {
	switch name {
	case "plex_auth":
		w.f.PlexAuths++
	case "map":
		dests, _ := v["destinations"].([]any)
		var names []string
		for _, d := range dests {
			if s, ok := d.(string); ok {
				names = append(names, s)
			}
		}
		w.destinations(names)
	case "vars":
		for k := range v {
			w.varName(k)
		}
	case "authentication":
		w.f.MayBeSet = true
	default:
		mod, err := caddy.GetModule("http.handlers." + name)
		if err != nil || !caddysModule(reflect.TypeOf(mod.New())) {
			w.f.MayBeSet, w.f.Foreign = true, true
		}
	}
}

// destinations notes a map writing one of Names (with or without braces).
func (w walker) destinations(dests []string) {
	for _, d := range dests {
		d = strings.TrimSuffix(strings.TrimPrefix(d, "{"), "}")
		if isUserPlaceholder(d) {
			w.f.MapWrites = true
		}
	}
}

// varName notes vars setting an http.auth.user.* value, which the vars
// handler also Sets as a placeholder (Caddy does so for
// http.auth.user.id; any of the prefix is taken as doing so).
func (w walker) varName(k string) {
	if strings.HasPrefix(k, Prefix) || strings.Contains(k, "{") {
		w.f.MayBeSet = true
	}
}

func isUserPlaceholder(name string) bool {
	rest, ok := strings.CutPrefix(name, Prefix)
	return ok && slices.Contains(Names[:], rest)
}

// caddysModule reports whether t is one of Caddy's own modules.
func caddysModule(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && strings.HasPrefix(t.PkgPath(), "github.com/caddyserver/caddy/v2/")
}
