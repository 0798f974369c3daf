package plexauth

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// These tests run a real Caddy in-process (caddytest) with the plex_auth
// handler in front of a stand-in upstream, against the fake plex.tv, and
// walk the flows a browser walks, with a cookie jar.

const machineID = "9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c"

// The in-process Caddy listens on ports chosen when the test binary starts
// (never fixed ones, so two runs side by side do not meet), and keeps its
// config home, autosave.json included, in a folder the run removes.
var (
	siteURL   string // http://localhost:<http port>
	sitePort  int
	adminPort int
	httpsPort int
	runDir    string // removed when the run ends
	// goEnv is the environment the run started with, for the go command
	// the tests run: its build cache and settings are the user's.
	goEnv []string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "plexauth-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	runDir = dir
	defer os.RemoveAll(dir)
	goEnv = os.Environ()
	// Everything the tests and the programs they start put in the temp
	// folder (t.TempDir, Chromium's profile, caddytest's files) lands in
	// the run's folder too.
	os.Setenv("TMPDIR", dir)
	for _, k := range []string{"XDG_CONFIG_HOME", "XDG_DATA_HOME"} {
		os.Setenv(k, filepath.Join(dir, strings.ToLower(strings.TrimPrefix(k, "XDG_"))))
	}
	// Caddy fixed this path when the package was initialised, before the
	// line above: point it into the run's folder too.
	caddy.ConfigAutosavePath = filepath.Join(dir, "config", "caddy", "autosave.json")
	sitePort, adminPort, httpsPort = freePort(nil), freePort(nil), freePort(nil)
	siteURL = fmt.Sprintf("http://localhost:%d", sitePort)
	code := m.Run()
	stopInProcessCaddy()
	return code
}

// siteAddr rewrites the site addresses the tests write (localhost:SITEPORT,
// or a name under example.test with :SITEPORT) to this run's port.
func siteAddr(s string) string {
	s = strings.ReplaceAll(s, "localhost:SITEPORT", fmt.Sprintf("localhost:%d", sitePort))
	return strings.ReplaceAll(s, ".example.test:SITEPORT", fmt.Sprintf(".example.test:%d", sitePort))
}

// stopInProcessCaddy unloads every app of the in-process Caddy, so its
// handlers are cleaned up and nothing writes to a test's storage after the
// test; the admin endpoint stays for the next test.
func stopInProcessCaddy() {
	cfg := fmt.Sprintf(`{"admin":{"listen":"localhost:%d"}}`, adminPort)
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", adminPort), strings.NewReader(cfg))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err == nil {
		resp.Body.Close()
	}
}

// upstream records what the protected application receives.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(r.Context()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "header": r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// env is one running Caddy with the fake plex.tv and an upstream.
type env struct {
	t       *testing.T
	plex    *plextest.Server
	up      *upstream
	storage string
	global  string // extra global options, e.g. a log to read

	cleanupSet bool
}

// newEnv starts the fake plex.tv with accounts owner, homie, friend and
// stranger (no access), and loads Caddy with the given site body, where
// {PLEX} is replaced by the plex_tv_url/plex_app_url options and {UP} by
// the upstream's address.
func newEnv(t *testing.T, site string) *env {
	t.Helper()
	return newEnvGlobal(t, "", site)
}

// newEnvWithOptions is newEnv with more global options (e.g. a `servers`
// block) after the ones every test gets.
func newEnvWithOptions(t *testing.T, options, site string) *env {
	return newEnvGlobal(t, options, site)
}

// newEnvGlobal is newEnv with extra global options.
func newEnvGlobal(t *testing.T, global, site string) *env {
	t.Helper()
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer(machineID, "Living Room")
	for _, a := range []struct {
		name string
		tier plextest.Tier
	}{{"owner", plextest.Owner}, {"homie", plextest.Home}, {"friend", plextest.Friend}} {
		plex.AddAccount(a.name)
		plex.Share(machineID, a.name, a.tier)
	}
	plex.AddAccount("stranger")
	up := newUpstream(t)
	e := &env{t: t, plex: plex, up: up, storage: t.TempDir(), global: global}
	e.load(site)
	return e
}

func (e *env) load(site string) {
	e.t.Helper()
	plexOpts := fmt.Sprintf("plex_tv_url %s\n\t\tplex_app_url %s\n\t\ttimeout 2s", e.plex.URL, e.plex.AppURL())
	site = strings.ReplaceAll(site, "{PLEX}", plexOpts)
	site = strings.ReplaceAll(site, "{UP}", strings.TrimPrefix(e.up.URL, "http://"))
	config := fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns
	skip_install_trust
	storage file_system %s
	%s
}
%s
`, adminPort, sitePort, httpsPort, e.storage, e.global, siteAddr(site))
	tc := caddytest.NewTester(e.t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tc.InitServer(config, "caddyfile")
	if !e.cleanupSet {
		e.cleanupSet = true
		// Registered after t.TempDir (storage), so it runs before the
		// folder is removed.
		e.t.Cleanup(stopInProcessCaddy)
	}
}

// browser is a cookie-keeping client that does not follow redirects, so
// each hop can be checked.
type browser struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(method, target string, body url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = siteURL + target
	}
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b *browser) get(target string, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	return b.do(http.MethodGet, target, nil, hdr...)
}

func (b *browser) cookie(name string) *http.Cookie {
	return b.cookieAt("/", name)
}

// cookieAt returns the cookie the browser would send to path on the site.
func (b *browser) cookieAt(path, name string) *http.Cookie {
	u, _ := url.Parse(siteURL + path)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func expectStatus(t *testing.T, resp *http.Response, want int, body string) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.300s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, body)
	}
}

// start posts to /start with rd and returns the pin code from the Plex
// sign-in URL it is sent to, checking that URL's shape.
func (e *env) start(b *browser, rd string) string {
	e.t.Helper()
	resp, body := b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {rd}})
	expectStatus(e.t, resp, http.StatusSeeOther, body)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, e.plex.AppURL()+"#?") {
		e.t.Fatalf("start redirected to %q, want the Plex sign-in page", loc)
	}
	frag, err := url.ParseQuery(loc[len(e.plex.AppURL())+2:])
	if err != nil {
		e.t.Fatal(err)
	}
	if frag.Get("clientID") == "" || frag.Get("context[device][product]") == "" {
		e.t.Fatalf("sign-in URL lacks clientID or product: %q", loc)
	}
	if got, want := frag.Get("forwardUrl"), siteURL+"/_plexauth/callback"; got != want {
		e.t.Fatalf("forwardUrl = %q, want %q", got, want)
	}
	// The pin id and the login state stay in the sealed state cookie: the
	// URL carries these parameters and no other (the code is random and
	// may spell anything, "pin" included).
	keys := slices.Sorted(maps.Keys(frag))
	if want := []string{"clientID", "code", "context[device][product]", "forwardUrl"}; !slices.Equal(keys, want) {
		e.t.Fatalf("sign-in URL has parameters %v, want only %v: %q", keys, want, loc)
	}
	return frag.Get("code")
}

// signIn walks the whole same-tab flow as account and returns the
// callback's response.
func (e *env) signIn(b *browser, account, rd string) (*http.Response, string) {
	e.t.Helper()
	code := e.start(b, rd)
	if err := e.plex.Approve(code, account); err != nil {
		e.t.Fatal(err)
	}
	return b.get("/_plexauth/callback")
}
