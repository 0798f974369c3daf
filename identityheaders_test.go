package plexauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// sameVariable is the test's own reading of the rule: CGI and FastCGI
// (and PHP's $_SERVER) turn '-', '_' and '.' into one character and ignore
// case, so these names all reach the application as HTTP_REMOTE_USER.
func sameVariable(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// spoofedIdentity lists the headers (or trailers) in h that an application
// would read as one of the identity headers, with their values.
func spoofedIdentity(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		switch sameVariable(k) {
		case "remote-user", "remote-email", "remote-name", "remote-groups":
			out[k] = v
		}
	}
	return out
}

func TestIdentityHeaderNamesMatchEverySpelling(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"Remote-User", true}, {"Remote-Email", true}, {"Remote-Name", true}, {"Remote-Groups", true},
		{"remote-user", true}, {"REMOTE-USER", true}, {"Remote_User", true}, {"Remote_user", true},
		{"remote.user", true}, {"Remote.User", true}, {"remote_email", true}, {"REMOTE.GROUPS", true},
		{"Remote-_User", false}, {"Remote-Users", false}, {"Remote-Use", false}, {"X-Remote-User", false},
		{"RemoteUser", false}, {"Remote User", false}, {"Remote-Group", false}, {"Remote-User ", false},
		{"Remote-Addr", false}, {"Remote~User", false}, {"", false}, {"Remote-Nam\u00e9", false},
	} {
		if got := isIdentityHeader(c.name); got != c.want {
			t.Errorf("isIdentityHeader(%q) = %v, want %v", c.name, got, c.want)
		}
		if oracle := len(spoofedIdentity(http.Header{c.name: nil})) > 0; oracle != c.want {
			t.Fatalf("the table disagrees with the test's own rule on %q", c.name)
		}
	}
}

// Caddy drops request headers with '_' or '.' in their names, except those
// an operator lists in expected_underscore_headers or expected_dot_headers.
// With such a list, a client's Remote_User or remote.user reaches the
// handler, and a CGI application reads it as REMOTE_USER: plex_auth must
// remove it, signed in or not.
func TestEverySpellingOfTheIdentityHeadersIsRemoved(t *testing.T) {
	e := newEnvWithOptions(t, "\tservers {\n\t\texpected_underscore_headers Remote_*\n\t\texpected_dot_headers Remote.*\n\t}", basicSite)
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)

	resp, body = b.get("/app",
		"Remote_User", "owner", "remote.user", "owner", "Remote_Groups", "owner",
		"Remote.Email", "evil@example.com", "remote_name", "Evil",
		"X-Remote-User", "kept", "Remote_Username", "kept")
	expectStatus(t, resp, http.StatusOK, body)
	got := e.up.last().Header
	want := map[string][]string{
		"Remote-User": {"friend"}, "Remote-Email": {"friend@example.com"},
		"Remote-Name": {"Friend"}, "Remote-Groups": {"friend"},
	}
	spoofed := spoofedIdentity(got)
	for k, v := range spoofed {
		if w, ok := want[k]; !ok || strings.Join(v, "|") != strings.Join(w, "|") {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if len(spoofed) != len(want) {
		t.Errorf("upstream identity headers = %v, want %v", spoofed, want)
	}
	// Names that only look alike are the application's business.
	if got.Get("X-Remote-User") != "kept" || got.Get("Remote_username") != "kept" {
		t.Errorf("unrelated headers were removed: %v", got)
	}
	// The check above can fail: Caddy let these spellings through.
	if got := e.up.last(); got == nil {
		t.Fatal("no request upstream")
	}
	probe := newEnvWithOptions(t, "\tservers {\n\t\texpected_underscore_headers Remote_*\n\t}", `http://localhost:SITEPORT {
	reverse_proxy {UP}
}`)
	resp, body = newBrowser(t).get("/", "Remote_User", "owner")
	expectStatus(t, resp, http.StatusOK, body)
	if probe.up.last().Header.Get("Remote_User") != "owner" {
		t.Fatal("Caddy drops Remote_User even when allowed; the test above proves nothing")
	}
}

// trailerUpstream records the trailers each request carried, read after
// the body as an application reads them.
type trailerUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	trailers []http.Header
	bodies   []string
}

func newTrailerUpstream(t *testing.T) *trailerUpstream {
	u := &trailerUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.trailers = append(u.trailers, r.Trailer.Clone())
		u.bodies = append(u.bodies, string(body))
		u.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"user": r.Header.Get("Remote-User")})
	}))
	t.Cleanup(u.Close)
	return u
}

// A request may carry headers after its body (trailers), and Caddy's
// reverse_proxy passes them on. Identity names there must go too.
func TestIdentityTrailersNeverReachTheUpstream(t *testing.T) {
	up := newTrailerUpstream(t)
	site := strings.ReplaceAll(basicSite, "{UP}", strings.TrimPrefix(up.URL, "http://"))
	e := newEnv(t, site)
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)

	// Go's client announces its trailers (a Trailer header), as a
	// request must for net/http to hand them on.
	req, err := http.NewRequest(http.MethodPost, siteURL+"/upload", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked, so trailers can follow
	req.Header.Set("Accept", "application/json")
	req.Trailer = http.Header{
		"Remote-User": {"owner"}, "Remote-Groups": {"owner"}, "Remote_Email": {"evil@example.com"},
		"X-Checksum": {"abc123"},
	}
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	expectStatus(t, resp, http.StatusOK, string(got))
	if !strings.Contains(string(got), `"user":"friend"`) {
		t.Fatalf("upstream saw Remote-User %s, want friend", got)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.trailers) != 1 || up.bodies[0] != "payload" {
		t.Fatalf("upstream saw %d requests, bodies %q", len(up.trailers), up.bodies)
	}
	if s := spoofedIdentity(up.trailers[0]); len(s) > 0 {
		t.Errorf("upstream got identity trailers %v", s)
	}
	// The check above can fail: trailers do reach the upstream.
	if up.trailers[0].Get("X-Checksum") != "abc123" {
		t.Fatalf("the announced X-Checksum trailer did not reach the upstream (%v); the test proves nothing", up.trailers[0])
	}
}

// recipeBlock returns the site block for host in the example Caddyfile,
// checking that docs/recipes.md shows the same block.
func recipeBlock(t *testing.T, host string) string {
	t.Helper()
	example, err := os.ReadFile("examples/tools.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(example), "\n"+host+" {\n")
	if start < 0 {
		t.Fatalf("examples/tools.Caddyfile has no %s block", host)
	}
	block := string(example[start+1:])
	block = block[:strings.Index(block, "\n}\n")+3]
	recipes, err := os.ReadFile("docs/recipes.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(recipes), block) {
		t.Fatalf("docs/recipes.md does not show the %s recipe as examples/tools.Caddyfile has it:\n%s", host, block)
	}
	return block
}

// The Sonarr/Radarr recipe leaves /api and /feed to the application's API
// keys: plex_auth does not run there, so it cannot remove what a client
// sends under the identity headers. The recipe must, on those routes only.
func TestRecipeWithExcludedPathsRemovesClientIdentityHeadersThere(t *testing.T) {
	block := recipeBlock(t, "sonarr.example.com")
	site := strings.NewReplacer(
		"sonarr.example.com", "http://localhost:SITEPORT",
		"9f1c2e3d4b5a69788a7b6c5d4e3f2a1b0c9d8e7f", machineID+"\n\t\t{PLEX}",
		"localhost:8989", "{UP}",
	).Replace(block)

	for _, c := range []struct {
		name, options string
		spoof         []string
	}{
		{"default server options", "", []string{"Remote-User", "owner", "Remote-Groups", "owner", "Remote-Email", "evil@example.com", "Remote-Name", "Evil"}},
		{"underscore and dot spellings allowed", "\tservers {\n\t\texpected_underscore_headers Remote_*\n\t\texpected_dot_headers Remote.*\n\t}",
			[]string{"Remote_User", "owner", "remote.groups", "owner"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvWithOptions(t, c.options, site)
			for _, path := range []string{"/api/v3/system/status", "/feed/calendar.ics"} {
				resp, body := newBrowser(t).get(path, append([]string{"Accept", "application/json", "X-Api-Key", "k"}, c.spoof...)...)
				expectStatus(t, resp, http.StatusOK, body)
				got := e.up.last()
				if s := spoofedIdentity(got.Header); len(s) > 0 {
					t.Errorf("%s: upstream got client identity headers %v", path, s)
				}
				if got.Header.Get("X-Api-Key") != "k" {
					t.Errorf("%s: the application's own headers must pass: %v", path, got.Header)
				}
			}

			// On the routes plex_auth guards, its headers stay: the
			// removal must not run there (request_header runs after
			// plex_auth in Caddy's order and would delete them).
			b := newBrowser(t)
			resp, body := e.signIn(b, "owner", "/")
			expectStatus(t, resp, http.StatusFound, body)
			resp, body = b.get("/series", c.spoof...)
			expectStatus(t, resp, http.StatusOK, body)
			if got := e.up.last().Header; got.Get("Remote-User") != "owner" || got.Get("Remote-Groups") != "owner" || got.Get("Remote-Email") != "owner@example.com" {
				t.Errorf("signed-in request upstream identity: %v", spoofedIdentity(got))
			}
		})
	}
}

// Outside a Caddy server (no server options to tell what got through),
// every spelling is removed, on the refused path too.
func TestOtherSpellingsAreRemovedWithoutASession(t *testing.T) {
	h := ruleHandler([]string{"srv"}, nil, nil)
	h.CookieName = "plex_auth_session"
	h.setPrefix("/_plexauth")
	var err error
	if h.sessionSealer, err = newSealer("session", [][]byte{make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	h.sessions = newSessionCache(nil, nil)
	defer h.sessions.Destruct()
	r := httptest.NewRequest("GET", "/", nil)
	for _, k := range []string{"Remote_user", "Remote.groups", "remote_email", "Remote-Name"} {
		r.Header[k] = []string{"spoofed"}
	}
	r.Header.Set("Accept", "application/json")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusUnauthorized || len(spoofedIdentity(r.Header)) > 0 {
		t.Fatalf("status %d, headers left %v", w.Code, spoofedIdentity(r.Header))
	}
}
