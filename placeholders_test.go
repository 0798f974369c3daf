package plexauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	maphandler "github.com/caddyserver/caddy/v2/modules/caddyhttp/map"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/placeholderfacts"
)

// The user placeholders are answered when asked (placeholders.go). These
// tests hold them to what writing them eagerly gave: the Plex identity of
// the innermost plex_auth, never an identity set before it, never a map's.

// TestPlaceholdersAreTheInnermostPlexAuths: a stricter block nested in a
// laxer one decides the placeholders on its routes, tier included.
func TestPlaceholdersAreTheInnermostPlexAuths(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		allow_any_plex_user
		{PLEX}
	}
	handle /admin/* {
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		respond "inner {http.auth.user.username} tier={http.auth.user.tier}"
	}
	respond "outer {http.auth.user.username} tier={http.auth.user.tier}"
}`)
	b := e.signedInAs("homie")
	for path, want := range map[string]string{
		"/":          "outer homie tier=",
		"/admin/x":   "inner homie tier=home",
		"/elsewhere": "outer homie tier=",
	} {
		resp, body := b.get(path)
		expectStatus(t, resp, http.StatusOK, body)
		if body != want {
			t.Errorf("GET %s: %q, want %q", path, body, want)
		}
	}
}

// TestPlaceholdersSetBeforePlexAuthDoNotMix: a value set before plex_auth
// ran (vars, or basic_auth in front) must not stand in for the Plex
// account's.
func TestPlaceholdersSetBeforePlexAuthDoNotMix(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	vars http.auth.user.id intruder
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	respond "{http.auth.user.id} {http.auth.user.username} {http.auth.user.email}"
}`)
	b := e.signedInAs("owner")
	resp, body := b.get("/")
	expectStatus(t, resp, http.StatusOK, body)
	a := e.plex.Account("owner")
	if want := strconv.Itoa(a.ID) + " owner " + a.Email; body != want {
		t.Fatalf("placeholders answered %q, want %q", body, want)
	}
}

// TestMapCannotSpeakForTheSignedInUser: a map handler runs before plex_auth
// in a site block and answers its destinations before any provider added
// after it. One that writes a user placeholder from what the client sends
// must not decide who the user is.
func TestMapCannotSpeakForTheSignedInUser(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
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
}`)
	b := e.signedInAs("friend")
	resp, body := b.get("/grafana/", "X-Who", "admin")
	expectStatus(t, resp, http.StatusOK, body)
	if got := e.up.last().Header.Get("X-Webauth-User"); got != "friend" {
		t.Fatalf("upstream got X-Webauth-User %q, want friend", got)
	}
}

// TestAccessLogNamesThePlexUser: Caddy's access log reads
// {http.auth.user.id} after the handlers returned; it must find the Plex
// account's id there.
func TestAccessLogNamesThePlexUser(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	e := newEnv(t, `http://localhost:SITEPORT {
	log {
		output file `+logPath+`
		format json
	}
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	respond "ok"
}`)
	b := e.signedInAs("homie")
	resp, body := b.get("/signed-in-page")
	expectStatus(t, resp, http.StatusOK, body)
	want := strconv.Itoa(e.plex.Account("homie").ID)
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = got[:0]
		data, _ := os.ReadFile(logPath)
		for l := range strings.SplitSeq(string(data), "\n") {
			var line struct {
				UserID  string `json:"user_id"`
				Request struct {
					URI string `json:"uri"`
				} `json:"request"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Request.URI == "/signed-in-page" {
				got = append(got, line.UserID)
			}
		}
		if len(got) > 0 {
			break
		}
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("access log user_id for /signed-in-page: %q, want [%s]", got, want)
	}
}

// accessLogUserIDs waits until Caddy's JSON access log at logPath has a
// line for each of uris, and returns the user_id of each.
func accessLogUserIDs(t *testing.T, logPath string, uris []string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(uris) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(logPath)
		for l := range strings.SplitSeq(string(data), "\n") {
			var line struct {
				UserID  string `json:"user_id"`
				Request struct {
					URI string `json:"uri"`
				} `json:"request"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && slices.Contains(uris, line.Request.URI) {
				got[line.Request.URI] = line.UserID
			}
		}
	}
	if len(got) < len(uris) {
		t.Fatalf("access log has lines for %v, want %v", got, uris)
	}
	return got
}

// TestRefusedRequestsAccessLogNamesNoOneTheClientChose: a value of
// {http.auth.user.id} set before plex_auth (vars from a header, or a map
// writing it) is Caddy's access log's user_id. On every answer that does
// not admit (302 to the login page, 401, 403, the endpoints under the
// prefix) it must not stay: the client would choose whom the log names.
// Where an outer plex_auth admitted the request and a stricter one inside
// refuses it, the log names the account the outer one admitted.
func TestRefusedRequestsAccessLogNamesNoOneTheClientChose(t *testing.T) {
	for _, c := range []struct{ name, setter string }{
		{"vars", "vars http.auth.user.id {header.X-Id}"},
		{"map", "map {header.X-Id} {http.auth.user.id} {\n\t\tvictim victim\n\t}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "access.log")
			e := newEnv(t, `http://localhost:SITEPORT {
	log {
		output file `+logPath+`
		format json
	}
	`+c.setter+`
	handle /open {
		respond "open"
	}
	handle /owner/* {
		plex_auth {
			server `+machineID+`
			allow_tier owner
			{PLEX}
		}
		respond "owner"
	}
	handle {
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		handle /admin/* {
			plex_auth {
				server `+machineID+`
				allow_tier owner
				{PLEX}
			}
			respond "admin"
		}
		respond "ok"
	}
}`)
			friend := e.signedInAs("friend")
			friendID := strconv.Itoa(e.plex.Account("friend").ID)
			anon := newBrowser(t)
			accept := []string{"Accept", "application/json"}
			requests := []struct {
				b      *browser
				target string // also the uri of its log line
				hdr    []string
				status int
				want   string // user_id in the access log
			}{
				{anon, "/open?t=control", nil, http.StatusOK, "victim"},
				{anon, "/page?t=redirect", nil, http.StatusFound, ""},
				{anon, "/api?t=401", accept, http.StatusUnauthorized, ""},
				{friend, "/owner/x?t=403", accept, http.StatusForbidden, ""},
				{friend, "/owner/page?t=403-page", nil, http.StatusForbidden, ""},
				{anon, "/_plexauth/login?t=login", nil, http.StatusOK, ""},
				{anon, "/_plexauth/start?t=start", nil, http.StatusSeeOther, ""},
				{anon, "/_plexauth/nothing?t=404", nil, http.StatusNotFound, ""},
				{friend, "/_plexauth/login?t=login-signed-in", nil, http.StatusFound, ""},
				{friend, "/admin/x?t=403-inner", accept, http.StatusForbidden, friendID},
				{friend, "/ok?t=admitted", nil, http.StatusOK, friendID},
			}
			var uris []string
			for _, r := range requests {
				resp, body := r.b.get(r.target, append([]string{"X-Id", "victim"}, r.hdr...)...)
				expectStatus(t, resp, r.status, body)
				uris = append(uris, r.target)
			}
			got := accessLogUserIDs(t, logPath, uris)
			for _, r := range requests {
				if got[r.target] != r.want {
					t.Errorf("access log user_id for %s (%d): %q, want %q", r.target, r.status, got[r.target], r.want)
				}
			}
		})
	}
}

// TestPlaceholderFactsAreLearnedFromTheConfig covers both shapes the walk
// meets: routes already provisioned (modules) and routes still in JSON.
func TestPlaceholderFactsAreLearnedFromTheConfig(t *testing.T) {
	typed := func(mh caddyhttp.MiddlewareHandler) caddyhttp.RouteList {
		inner := caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{mh}}}
		return caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: inner}}}}
	}
	raw := func(handler string) caddyhttp.RouteList {
		return caddyhttp.RouteList{{HandlersRaw: []json.RawMessage{json.RawMessage(
			`{"handler":"subroute","routes":[{"handle":[` + handler + `]}]}`)}}}
	}
	vars := caddyhttp.VarsMiddleware{"http.auth.user.id": "x"}
	ownVars := caddyhttp.VarsMiddleware{"theme": "dark"}
	for _, c := range []struct {
		name   string
		routes caddyhttp.RouteList
		want   placeholderfacts.Facts
	}{
		{"provisioned map writing email", typed(&maphandler.Handler{Destinations: []string{"http.auth.user.email"}}), placeholderfacts.Facts{MapWrites: true}},
		{"provisioned map writing its own name", typed(&maphandler.Handler{Destinations: []string{"my_role"}}), placeholderfacts.Facts{}},
		{"provisioned map writing another http.auth.user name", typed(&maphandler.Handler{Destinations: []string{"http.auth.user.role"}}), placeholderfacts.Facts{}},
		{"provisioned vars naming http.auth.user.id", typed(&vars), placeholderfacts.Facts{MayBeSet: true}},
		{"provisioned vars of its own", typed(&ownVars), placeholderfacts.Facts{}},
		{"provisioned basic_auth", typed(&caddyauth.Authentication{}), placeholderfacts.Facts{MayBeSet: true}},
		{"provisioned plex_auth", typed(&PlexAuth{}), placeholderfacts.Facts{PlexAuths: 1}},
		{"provisioned handler from outside Caddy", typed(outsideHandler{}), placeholderfacts.Facts{MayBeSet: true, Foreign: true}},
		{"provisioned reverse_proxy", typed(&reverseproxy.Handler{}), placeholderfacts.Facts{}},
		{"JSON map writing tier", raw(`{"handler":"map","source":"{header.X}","destinations":["{my_role}","{http.auth.user.tier}"]}`), placeholderfacts.Facts{MapWrites: true}},
		{"JSON map writing its own name", raw(`{"handler":"map","source":"{header.X}","destinations":["{my_role}"]}`), placeholderfacts.Facts{}},
		{"JSON vars naming http.auth.user.id", raw(`{"handler":"vars","http.auth.user.id":"x"}`), placeholderfacts.Facts{MayBeSet: true}},
		{"JSON vars with a placeholder for a name", raw(`{"handler":"vars","{header.X}":"x"}`), placeholderfacts.Facts{MayBeSet: true}},
		{"JSON basic_auth", raw(`{"handler":"authentication","providers":{}}`), placeholderfacts.Facts{MayBeSet: true}},
		{"JSON handler not from Caddy", raw(`{"handler":"someone_elses_auth"}`), placeholderfacts.Facts{MayBeSet: true, Foreign: true}},
		{"JSON of two plex_auth, one nested", raw(`{"handler":"plex_auth"},{"handler":"subroute","routes":[{"handle":[{"handler":"plex_auth"}]}]}`), placeholderfacts.Facts{PlexAuths: 2}},
		{"JSON of Caddy's own and plex_auth", raw(`{"handler":"plex_auth"},{"handler":"reverse_proxy","upstreams":[{"dial":"x:1"}]},{"handler":"static_response","body":"{http.auth.user.id}"}`), placeholderfacts.Facts{PlexAuths: 1}},
	} {
		f := placeholderfacts.OfRoutes(c.routes)
		if f != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, f, c.want)
		}
	}
}

// outsideHandler is a handler from outside Caddy's own modules.
type outsideHandler struct{}

func (outsideHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// TestBasicAuthInFrontDoesNotMixWithPlex: basic_auth ahead of plex_auth on
// the same route sets {http.auth.user.id} to its own user; once plex_auth
// admits, every user placeholder is the Plex account's.
func TestBasicAuthInFrontDoesNotMixWithPlex(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("door"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, `http://localhost:SITEPORT {
	route {
		basic_auth /private/* {
			gatekeeper `+string(hash)+`
		}
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		respond "id={http.auth.user.id} username={http.auth.user.username}"
	}
}`)
	b := e.signedInAs("friend")
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("gatekeeper:door"))
	resp, body := b.get("/private/x", "Authorization", auth)
	expectStatus(t, resp, http.StatusOK, body)
	if want := "id=" + strconv.Itoa(e.plex.Account("friend").ID) + " username=friend"; body != want {
		t.Fatalf("placeholders answered %q, want %q", body, want)
	}
}

// signedInAs is a new browser signed in as account.
func (e *env) signedInAs(account string) *browser {
	e.t.Helper()
	b := newBrowser(e.t)
	resp, body := e.signIn(b, account, "/")
	expectStatus(e.t, resp, http.StatusFound, body)
	return b
}

// TestPlaceholderFactsArePerServer: handlers on another server never run
// on a request plex_auth sees, so they change nothing for it; a handler
// loaded outside an HTTP app knows nothing and sets the placeholders the
// eager way.
func TestPlaceholderFactsArePerServer(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("door"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	other := freePort(t)
	newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	respond "ok"
}

http://localhost:`+strconv.Itoa(other)+` {
	basic_auth {
		gatekeeper `+string(hash)+`
	}
	map {header.X-Who} {http.auth.user.username} {
		default intruder
	}
	respond "other"
}`)
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		t.Fatal(err)
	}
	var h *PlexAuth
	var ours, theirs *caddyhttp.Server
	for _, srv := range app.(*caddyhttp.App).Servers {
		switch {
		case slices.ContainsFunc(srv.Listen, func(l string) bool { return strings.HasSuffix(l, ":"+strconv.Itoa(sitePort)) }):
			ours, h = srv, findPlexAuth(srv.Routes)
		case slices.ContainsFunc(srv.Listen, func(l string) bool { return strings.HasSuffix(l, ":"+strconv.Itoa(other)) }):
			theirs = srv
		}
	}
	if h == nil || theirs == nil {
		t.Fatalf("servers not found: plex_auth %v, other %v", h != nil, theirs != nil)
	}
	if f := h.factsFor(ours); f.MapWrites || f.MayBeSet || f.PlexAuths != 1 {
		t.Errorf("plex_auth's own server: %+v, want nothing that sets or maps the placeholders, and one plex_auth", f)
	}
	if f := h.factsFor(theirs); !f.MapWrites || !f.MayBeSet {
		t.Errorf("the other server: %+v, want its map and basic_auth seen", f)
	}
	if f := h.factsFor(nil); *f != unknownServer {
		t.Errorf("outside a server: %+v, want %+v", f, unknownServer)
	}
}

// findPlexAuth is the first plex_auth handler in routes, at any depth of
// subroutes.
func findPlexAuth(routes caddyhttp.RouteList) *PlexAuth {
	for _, rt := range routes {
		for _, mh := range rt.Handlers {
			switch mh := mh.(type) {
			case *PlexAuth:
				return mh
			case *caddyhttp.Subroute:
				if h := findPlexAuth(mh.Routes); h != nil {
					return h
				}
			}
		}
	}
	return nil
}

// The server's only plex_auth hands Caddy a provider made once per session
// object and tier: it answers that object's values at the tier asked for,
// a session admitted at another tier gets one answering that tier, and a
// new object (a session replaced in memory) never answers from the old.
func TestSessionProviderAnswersItsSessionAtItsTier(t *testing.T) {
	s := &Session{UserID: 42, Username: "alice", Email: "a@example.com", UUID: "u1", Title: "Alice"}
	s.Prepare()
	friend := sessionProvider(s, access.TierFriend)
	for key, want := range map[string]any{
		"http.auth.user.id": "42", "http.auth.user.username": "alice", "http.auth.user.email": "a@example.com",
		"http.auth.user.uuid": "u1", "http.auth.user.title": "Alice", "http.auth.user.tier": access.TierFriend,
	} {
		if got, ok := friend(key); !ok || got != want {
			t.Errorf("%s = %v, %v; want %v", key, got, ok, want)
		}
	}
	if _, ok := friend("http.request.uri"); ok {
		t.Error("the provider answered a placeholder that is not plex_auth's")
	}
	if p := s.Provider.Load(); p == nil || p.Tier != access.TierFriend {
		t.Fatal("the provider was not kept with the session")
	}
	if got, _ := sessionProvider(s, access.TierHome)("http.auth.user.tier"); got != access.TierHome {
		t.Errorf("admitted as home, tier = %v", got)
	}
	replaced := &Session{UserID: 42, Username: "alice2", Email: "a@example.com", UUID: "u1", Title: "Alice"}
	replaced.Prepare()
	if got, _ := sessionProvider(replaced, access.TierHome)("http.auth.user.username"); got != "alice2" {
		t.Errorf("the replaced session answered username %v, want alice2", got)
	}
}
