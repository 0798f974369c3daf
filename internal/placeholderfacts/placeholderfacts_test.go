package placeholderfacts

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/intercept"
	maphandler "github.com/caddyserver/caddy/v2/modules/caddyhttp/map"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage" // the file_system storage of the config below
)

// fakePlexAuth stands for plex_auth: the walk knows a provisioned handler
// by its module ID alone, and the root package (the real one) cannot be
// imported here. Its Provision records what Learn says at that moment.
type fakePlexAuth struct{}

var (
	learnedMu sync.Mutex
	learned   [][]Facts
)

func (fakePlexAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: plexAuthID, New: func() caddy.Module { return new(fakePlexAuth) }}
}

func (*fakePlexAuth) Provision(ctx caddy.Context) error {
	f := Learn(ctx)
	learnedMu.Lock()
	learned = append(learned, f)
	learnedMu.Unlock()
	return nil
}

func (*fakePlexAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// foreignHandler is a module from outside Caddy's own, registered so its
// JSON name resolves.
type foreignHandler struct{}

func (foreignHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.placeholderfacts_test_foreign", New: func() caddy.Module { return new(foreignHandler) }}
}

func (*foreignHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// plainHandler is a handler from outside Caddy that is no module at all.
type plainHandler struct{}

func (plainHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

func init() {
	caddy.RegisterModule(fakePlexAuth{})
	caddy.RegisterModule(foreignHandler{})
}

func handlers(mhs ...caddyhttp.MiddlewareHandler) caddyhttp.RouteList {
	return caddyhttp.RouteList{{Handlers: mhs}}
}

func raw(handlers ...string) caddyhttp.RouteList {
	var r caddyhttp.Route
	for _, h := range handlers {
		r.HandlersRaw = append(r.HandlersRaw, json.RawMessage(h))
	}
	return caddyhttp.RouteList{r}
}

// TestProvisionedHandlersSayWhoMaySetTheUser: the facts of routes already
// provisioned, at the depths Caddy nests them: a map writing a user
// placeholder, vars naming one, authentication, plex_auth counted by its
// module ID, a handler from outside Caddy, and the routes inside subroute
// (and its errors), reverse_proxy's and intercept's handle_response.
func TestProvisionedHandlersSayWhoMaySetTheUser(t *testing.T) {
	userVars := caddyhttp.VarsMiddleware{"http.auth.user.tier": "x"}
	ownVars := caddyhttp.VarsMiddleware{"theme": "dark"}
	placeholderVars := caddyhttp.VarsMiddleware{"{header.X}": "x"}
	in := func(mhs ...caddyhttp.MiddlewareHandler) *caddyhttp.Subroute {
		return &caddyhttp.Subroute{Routes: handlers(mhs...)}
	}
	for _, c := range []struct {
		name   string
		routes caddyhttp.RouteList
		want   Facts
	}{
		{"nothing", nil, Facts{}},
		{"map writing id", handlers(&maphandler.Handler{Destinations: []string{"http.auth.user.id"}}), Facts{MapWrites: true}},
		{"map writing {username} in braces", handlers(&maphandler.Handler{Destinations: []string{"my_role", "{http.auth.user.username}"}}), Facts{MapWrites: true}},
		{"map writing its own name", handlers(&maphandler.Handler{Destinations: []string{"my_role"}}), Facts{}},
		{"map writing a bare tier", handlers(&maphandler.Handler{Destinations: []string{"tier", "{email}"}}), Facts{}},
		{"map writing another http.auth.user name", handlers(&maphandler.Handler{Destinations: []string{"http.auth.user.role"}}), Facts{}},
		{"vars naming tier", handlers(&userVars), Facts{MayBeSet: true}},
		{"vars with a placeholder for a name", handlers(&placeholderVars), Facts{MayBeSet: true}},
		{"vars of its own", handlers(&ownVars), Facts{}},
		{"authentication", handlers(&caddyauth.Authentication{}), Facts{MayBeSet: true}},
		{"plex_auth", handlers(&fakePlexAuth{}), Facts{PlexAuths: 1}},
		{"two plex_auth", handlers(&fakePlexAuth{}, in(&fakePlexAuth{})), Facts{PlexAuths: 2}},
		{"a module from outside Caddy", handlers(&foreignHandler{}), Facts{MayBeSet: true, Foreign: true}},
		{"a handler that is no module", handlers(plainHandler{}), Facts{MayBeSet: true, Foreign: true}},
		{"Caddy's own handlers", handlers(&reverseproxy.Handler{}, &intercept.Intercept{}, in(), &caddyhttp.StaticResponse{}), Facts{}},
		{"map in a subroute", handlers(in(&maphandler.Handler{Destinations: []string{"http.auth.user.uuid"}})), Facts{MapWrites: true}},
		{"plex_auth in a subroute's errors", handlers(&caddyhttp.Subroute{Errors: &caddyhttp.HTTPErrorConfig{Routes: handlers(&fakePlexAuth{})}}), Facts{PlexAuths: 1}},
		{"authentication in reverse_proxy's handle_response", handlers(&reverseproxy.Handler{HandleResponse: []caddyhttp.ResponseHandler{{Routes: handlers(&caddyauth.Authentication{})}}}), Facts{MayBeSet: true}},
		{"map in intercept's handle_response", handlers(&intercept.Intercept{HandleResponse: []caddyhttp.ResponseHandler{{Routes: handlers(&maphandler.Handler{Destinations: []string{"http.auth.user.title"}})}}}), Facts{MapWrites: true}},
	} {
		if got := OfRoutes(c.routes); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestHandlersInJSONSayWhoMaySetTheUser: the same facts from routes still
// in their JSON, nested wherever Caddy's config nests handlers.
func TestHandlersInJSONSayWhoMaySetTheUser(t *testing.T) {
	sub := func(h string) string { return `{"handler":"subroute","routes":[{"handle":[` + h + `]}]}` }
	for _, c := range []struct {
		name   string
		routes caddyhttp.RouteList
		want   Facts
	}{
		{"map writing {tier}", raw(`{"handler":"map","source":"{header.X}","destinations":["{my_role}","{http.auth.user.tier}"]}`), Facts{MapWrites: true}},
		{"map writing id without braces", raw(`{"handler":"map","destinations":[7,"http.auth.user.id"]}`), Facts{MapWrites: true}},
		{"map writing its own name", raw(`{"handler":"map","destinations":["{my_role}"]}`), Facts{}},
		{"map without destinations", raw(`{"handler":"map"}`), Facts{}},
		{"vars naming email", raw(`{"handler":"vars","http.auth.user.email":"x"}`), Facts{MayBeSet: true}},
		{"vars with a placeholder for a name", raw(`{"handler":"vars","{header.X}":"x"}`), Facts{MayBeSet: true}},
		{"vars of its own", raw(`{"handler":"vars","theme":"dark"}`), Facts{}},
		{"authentication", raw(`{"handler":"authentication","providers":{}}`), Facts{MayBeSet: true}},
		{"plex_auth", raw(`{"handler":"plex_auth"}`), Facts{PlexAuths: 1}},
		{"a module from outside Caddy", raw(`{"handler":"placeholderfacts_test_foreign"}`), Facts{MayBeSet: true, Foreign: true}},
		{"a handler no module answers to", raw(`{"handler":"no_such_handler"}`), Facts{MayBeSet: true, Foreign: true}},
		{"Caddy's own handlers", raw(`{"handler":"reverse_proxy"}`, `{"handler":"static_response","body":"{http.auth.user.id}"}`, `{"handler":"intercept"}`), Facts{}},
		{"a handler name that is no string", raw(`{"handler":7}`), Facts{}},
		{"JSON that does not parse", raw(`{"handler":"plex_auth"`), Facts{}},
		{"two plex_auth, one in a subroute", raw(`{"handler":"plex_auth"}`, sub(`{"handler":"plex_auth"}`)), Facts{PlexAuths: 2}},
		{"map two subroutes down", raw(sub(sub(`{"handler":"map","destinations":["http.auth.user.uuid"]}`))), Facts{MapWrites: true}},
		{"authentication in reverse_proxy's handle_response", raw(`{"handler":"reverse_proxy","handle_response":[{"routes":[{"handle":[{"handler":"authentication"}]}]}]}`), Facts{MayBeSet: true}},
	} {
		if got := OfRoutes(c.routes); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestOfRoutesAddsUpEveryList: the facts of several lists are the facts
// of all of them; provisioned handlers and JSON of one route both count.
func TestOfRoutesAddsUpEveryList(t *testing.T) {
	both := handlers(&fakePlexAuth{})
	both[0].HandlersRaw = []json.RawMessage{json.RawMessage(`{"handler":"plex_auth"}`)}
	got := OfRoutes(both, handlers(&caddyauth.Authentication{}), raw(`{"handler":"map","destinations":["http.auth.user.id"]}`))
	if want := (Facts{PlexAuths: 2, MayBeSet: true, MapWrites: true}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}

// TestCaddysModuleKnowsCaddysOwnTypes: Caddy's own module types at any
// pointer depth are Caddy's; a type from elsewhere, or none, is not.
func TestCaddysModuleKnowsCaddysOwnTypes(t *testing.T) {
	sr := &caddyhttp.StaticResponse{}
	for _, c := range []struct {
		name string
		t    reflect.Type
		want bool
	}{
		{"no type", nil, false},
		{"Caddy's struct", reflect.TypeOf(caddyhttp.StaticResponse{}), true},
		{"pointer to Caddy's", reflect.TypeOf(sr), true},
		{"pointer to pointer to Caddy's", reflect.TypeOf(&sr), true},
		{"a type from outside", reflect.TypeOf(&foreignHandler{}), false},
		{"a type of no package", reflect.TypeOf(new(int)), false},
	} {
		if got := caddysModule(c.t); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestLearnOutsideAnHTTPAppIsNil: a handler loaded by something other
// than the HTTP app learns nothing (and does not fail).
func TestLearnOutsideAnHTTPAppIsNil(t *testing.T) {
	learnedMu.Lock()
	learned = nil
	learnedMu.Unlock()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if _, err := ctx.LoadModuleByID(plexAuthID, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	learnedMu.Lock()
	defer learnedMu.Unlock()
	if len(learned) != 1 || learned[0] != nil {
		t.Fatalf("Learn outside an HTTP app: %+v", learned)
	}
}

// TestLearnReadsEveryServerOfTheHTTPApp: Learn, called from a handler's
// Provision in a real config (caddy.Validate provisions without
// listening), gives one Facts a server, each with its server and name,
// counting the server's routes, its error routes and its named routes,
// and nothing of another server's.
func TestLearnReadsEveryServerOfTheHTTPApp(t *testing.T) {
	learnedMu.Lock()
	learned = nil
	learnedMu.Unlock()
	cfgJSON := `{
	"admin": {"disabled": true},
	"storage": {"module": "file_system", "root": ` + strconv.Quote(t.TempDir()) + `},
	"apps": {"http": {"servers": {
		"site": {
			"listen": ["127.0.0.1:0"],
			"routes": [{"handle": [{"handler": "plex_auth"}]}],
			"errors": {"routes": [{"handle": [{"handler": "plex_auth"}]}]},
			"named_routes": {"n": {"handle": [{"handler": "plex_auth"}]}}
		},
		"other": {
			"listen": ["127.0.0.2:0"],
			"routes": [{"handle": [{"handler": "map", "source": "{path}", "destinations": ["{http.auth.user.id}"], "mappings": [{"input": "/a", "outputs": ["1"]}]}]}]
		}
	}}}
}`
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	learnedMu.Lock()
	defer learnedMu.Unlock()
	if len(learned) != 3 {
		t.Fatalf("plex_auth was provisioned %d times, want 3", len(learned))
	}
	for i, all := range learned {
		slices.SortFunc(all, func(a, b Facts) int {
			if a.Name < b.Name {
				return -1
			}
			return 1
		})
		if len(all) != 2 {
			t.Fatalf("call %d: %d servers: %+v", i, len(all), all)
		}
		for _, f := range all {
			if f.Server == nil {
				t.Errorf("call %d: server %q without its *Server", i, f.Name)
			}
		}
		if all[0].Server == all[1].Server {
			t.Errorf("call %d: both servers' facts name one *Server", i)
		}
		got := []Facts{all[0], all[1]}
		got[0].Server, got[1].Server = nil, nil
		want := []Facts{{Name: "other", MapWrites: true}, {Name: "site", PlexAuths: 3}}
		if !slices.Equal(got, want) {
			t.Errorf("call %d: %+v, want %+v", i, got, want)
		}
	}
}
