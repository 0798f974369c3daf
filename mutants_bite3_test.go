package plexauth

// Tests for survivors of scripts/mutants.sh over validate.go, module.go and
// provision.go (the third round): each fails with the line it names
// changed as the run changed it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-plexauth/caddy-plexauth/internal/identity"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// validate.go: a JSON config (which no Caddyfile parser checked first) with
// one bad option is refused by an error naming that option, and the same
// config with the option's edge values that are fine is accepted.
func TestValidateRefusesEachBadOptionNamingIt(t *testing.T) {
	valid := func() PlexAuth {
		return PlexAuth{Servers: []string{machineID}, PlexTVURL: "https://plex.tv", PlexAppURL: "https://app.plex.tv/auth",
			CookieName: "c", Prefix: "/p", SessionTTL: 1, Timeout: 1}
	}
	for _, c := range []struct {
		name string
		edit func(*PlexAuth)
		want string
	}{
		{"allow_users entry empty", func(p *PlexAuth) { p.AllowUsers = []string{"alice", ""} }, "allow_users"},
		{"cookie_domain with a scheme", func(p *PlexAuth) { p.CookieDomain = "https://example.com" }, "cookie_domain:"},
		{"cookie_domain only dots", func(p *PlexAuth) { p.CookieDomain = "." }, "cookie_domain:"},
		{"session_ttl zero", func(p *PlexAuth) { p.SessionTTL = 0 }, "session_ttl must be positive"},
		{"session_ttl negative", func(p *PlexAuth) { p.SessionTTL = -1 }, "session_ttl must be positive"},
		{"timeout zero", func(p *PlexAuth) { p.Timeout = 0 }, "timeout must be positive"},
		{"timeout negative", func(p *PlexAuth) { p.Timeout = -1 }, "timeout must be positive"},
		{"revalidate negative", func(p *PlexAuth) { p.Revalidate = -1 }, "revalidate must be positive"},
		{"cache_ttl negative", func(p *PlexAuth) { p.CacheTTL = -1 }, "cache_ttl must be positive"},
		{"cookie_name empty", func(p *PlexAuth) { p.CookieName = "" }, "cookie_name"},
		{"cookie_name with a separator", func(p *PlexAuth) { p.CookieName = "a;b" }, "cookie_name"},
		{"prefix without its slash", func(p *PlexAuth) { p.Prefix = "p" }, "prefix"},
		{"prefix empty", func(p *PlexAuth) { p.Prefix = "" }, "prefix"},
		{"prefix with a query", func(p *PlexAuth) { p.Prefix = "/p?x=1" }, "prefix"},
		{"prefix with a fragment", func(p *PlexAuth) { p.Prefix = "/p#x" }, "prefix"},
		{"prefix with a percent", func(p *PlexAuth) { p.Prefix = "/p%2f" }, "prefix"},
		{"prefix with a backslash", func(p *PlexAuth) { p.Prefix = `/p\q` }, "prefix"},
		{"app_sign_in of an unknown kind", func(p *PlexAuth) { p.AppSignIn = &AppSignIn{Kind: "nosuchapp", URL: "http://127.0.0.1:5055"} }, "app_sign_in"},
		{"plex_tv_url without a scheme", func(p *PlexAuth) { p.PlexTVURL = "plex.tv" }, "plex_tv_url"},
		{"plex_tv_url of another scheme", func(p *PlexAuth) { p.PlexTVURL = "ftp://plex.tv" }, "plex_tv_url"},
		{"plex_tv_url without a host", func(p *PlexAuth) { p.PlexTVURL = "https:///api" }, "plex_tv_url"},
		{"plex_tv_url that does not parse", func(p *PlexAuth) { p.PlexTVURL = "https://plex.tv/%zz" }, "plex_tv_url"},
		{"plex_app_url without a host", func(p *PlexAuth) { p.PlexAppURL = "https:auth" }, "plex_app_url"},
		{"plex_app_url that does not parse", func(p *PlexAuth) { p.PlexAppURL = "http://[::1" }, "plex_app_url"},
	} {
		p := valid()
		c.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an error naming %q", c.name, err, c.want)
		}
	}
	for name, ok := range map[string]func(*PlexAuth){
		"cookie_domain":                func(p *PlexAuth) { p.CookieDomain = "example.com" },
		"cookie_domain with its dot":   func(p *PlexAuth) { p.CookieDomain = ".example.com" },
		"prefix of one slash":          func(p *PlexAuth) { p.Prefix = "/" },
		"a long prefix":                func(p *PlexAuth) { p.Prefix = "/auth/plex-sign_in.v2" },
		"plain http URLs":              func(p *PlexAuth) { p.PlexTVURL, p.PlexAppURL = "http://127.0.0.1:32400", "http://localhost/auth" },
		"an app_sign_in that can work": func(p *PlexAuth) { p.AppSignIn = &AppSignIn{Kind: "overseerr", URL: "http://127.0.0.1:5055"} },
		"allow_users besides server":   func(p *PlexAuth) { p.AllowUsers = []string{"alice", "12345"} },
	} {
		p := valid()
		ok(&p)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
}

// through runs one request through h, as Caddy hands it over, to a next
// handler that records the request it got (nil: h answered itself).
func through(t *testing.T, h *PlexAuth, r *http.Request) (*http.Response, *http.Request) {
	t.Helper()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
	return throughPrepared(t, h, r)
}

func throughPrepared(t *testing.T, h *PlexAuth, r *http.Request) (*http.Response, *http.Request) {
	t.Helper()
	var seen *http.Request
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r
		return nil
	})); err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return w.Result(), seen
}

// memoryHandler is a plex_auth for friends (or tiers) of machineID,
// sessions in memory, under a fixed secret, so that two of them open each
// other's cookies.
func memoryHandler(t *testing.T, extra map[string]any) *PlexAuth {
	t.Helper()
	cfg := map[string]any{"servers": []string{machineID}, "store": "memory", "secrets": []string{"mutants-bite3-shared-secret-0123456789"}}
	for k, v := range extra {
		cfg[k] = v
	}
	h, stop := provisionHandler(t, cfg)
	t.Cleanup(stop)
	return h
}

// apiGet is a request from an API client (which gets 401, not a redirect)
// carrying the given Cookie header.
func apiGet(target, cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://site.example"+target, nil)
	r.Header.Set("Accept", "application/json")
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

// module.go:254: the prefix itself, without a slash after it, is the
// handler's own path (an unknown endpoint, 404), never the upstream's, even
// for a signed-in request.
func TestThePrefixItselfIsTheHandlersOwnPath(t *testing.T) {
	h := memoryHandler(t, nil)
	c := h.CookieName + "=" + addSession(h, benchSession(1, time.Now(), time.Hour))
	for _, target := range []string{"/_plexauth", "/_plexauth/", "/_plexauth/nosuch"} {
		resp, seen := through(t, h, apiGet(target, c))
		if seen != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, upstream reached: %v; want the handler's 404", target, resp.StatusCode, seen != nil)
		}
	}
	if resp, seen := through(t, h, apiGet("/_plexauthx", c)); seen == nil {
		t.Errorf("/_plexauthx (not under the prefix): status %d, want the upstream", resp.StatusCode)
	}
}

// module.go:283, 289: an account the rules refuse gets 403 and never
// reaches the upstream; an admitted one reaches it without the session
// cookie (the other cookies kept) and with its identity.
func TestRefusedAccountGets403AndAdmittedOneArrivesWithoutTheCookie(t *testing.T) {
	h := memoryHandler(t, map[string]any{"allow_tiers": []string{"owner"}})
	c := h.CookieName + "=" + addSession(h, benchSession(2, time.Now(), time.Hour)) // a friend
	resp, seen := through(t, h, apiGet("/", c))
	if seen != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a friend on an owner-only block: status %d, upstream reached: %v; want 403", resp.StatusCode, seen != nil)
	}

	h = memoryHandler(t, nil)
	v := addSession(h, benchSession(3, time.Now(), time.Hour))
	resp, seen = through(t, h, apiGet("/", "theme=dark; "+h.CookieName+"="+v+"; lang=en"))
	if seen == nil {
		t.Fatalf("status %d, want the upstream", resp.StatusCode)
	}
	if got := strings.Join(seen.Header.Values("Cookie"), "; "); strings.Contains(got, h.CookieName) || strings.Contains(got, v) ||
		!strings.Contains(got, "theme=dark") || !strings.Contains(got, "lang=en") {
		t.Errorf("upstream got Cookie %q, want theme and lang without the session cookie", got)
	}
	if got := seen.Header.Get("Remote-User"); got != "viewer3" {
		t.Errorf("upstream got Remote-User %q, want viewer3", got)
	}
}

// module.go:303-313: a browser holding the cookie in two scopes sends both;
// a stale or forged value, first or last, never hides the live one.
func TestALiveSessionCookieIsFoundAmongStaleOnes(t *testing.T) {
	h := memoryHandler(t, nil)
	live := h.CookieName + "=" + addSession(h, benchSession(4, time.Now(), time.Hour))
	unknown := h.CookieName + "=" + h.sessionSealer.Seal(h.CookieName, randomBytes(sessionIDLen), time.Now().Add(time.Hour))
	forged := h.CookieName + "=forged"
	for _, cookies := range [][]string{
		{live},
		{forged, live},
		{unknown, live},
		{live, forged},
		{live, unknown},
		{forged, live, unknown},
		{unknown, forged, live},
		{forged, unknown, live, forged},
	} {
		resp, seen := through(t, h, apiGet("/", strings.Join(cookies, "; ")))
		if seen == nil || seen.Header.Get("Remote-User") != "viewer4" {
			t.Errorf("cookies %d with the live one at %d: status %d, want viewer4 admitted", len(cookies), slices.Index(cookies, live), resp.StatusCode)
		}
	}
	for _, cookies := range [][]string{{forged}, {unknown}, {forged, unknown}, {unknown, forged, unknown}} {
		if resp, seen := through(t, h, apiGet("/", strings.Join(cookies, "; "))); seen != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%d stale cookies: status %d, upstream reached: %v; want 401", len(cookies), resp.StatusCode, seen != nil)
		}
	}
}

// module.go:303-313, 342: while the session store cannot be asked, a cookie
// whose session it would have to tell answers 503 (not a sign-in that
// would lose the session), wherever that cookie stands among forged ones;
// a forged cookie alone needs no store and gets the sign-in answer.
func TestStoreOutageIsNotHiddenByAForgedCookie(t *testing.T) {
	h := memoryHandler(t, map[string]any{"store": "redis", "store_url": fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t))})
	unknown := h.CookieName + "=" + h.sessionSealer.Seal(h.CookieName, randomBytes(sessionIDLen), time.Now().Add(time.Hour))
	forged := h.CookieName + "=forged"
	for _, cookies := range [][]string{{unknown}, {unknown, forged}, {forged, unknown, forged}} {
		if resp, seen := through(t, h, apiGet("/", strings.Join(cookies, "; "))); seen != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("the store's cookie at %d of %d: status %d, upstream reached: %v; want 503", slices.Index(cookies, unknown), len(cookies), resp.StatusCode, seen != nil)
		}
	}
	for _, cookies := range [][]string{{forged}, {forged, forged}} {
		if resp, seen := through(t, h, apiGet("/", strings.Join(cookies, "; "))); seen != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%d forged cookies: status %d, upstream reached: %v; want 401 without asking the store", len(cookies), resp.StatusCode, seen != nil)
		}
	}
}

// module.go:260, 379: a plex_auth after another on the request's path
// (same cookie name, secret and store) takes over the session the first
// admitted, by its own rules and its own session_ttl.
func TestInnerPlexAuthJudgesTheOuterOnesSessionByItsOwnTTL(t *testing.T) {
	outer := memoryHandler(t, nil)
	inner := memoryHandler(t, map[string]any{"session_ttl": int64(time.Hour)})
	chain := func(s *Session) (*http.Response, *http.Request) {
		r := apiGet("/", outer.CookieName+"="+addSession(outer, s))
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
		resp, seen := throughPrepared(t, outer, r)
		if seen == nil {
			t.Fatalf("the outer handler refused the session: %d", resp.StatusCode)
		}
		return throughPrepared(t, inner, seen)
	}
	if resp, seen := chain(benchSession(5, time.Now(), 24*time.Hour)); seen == nil || seen.Header.Get("Remote-User") != "viewer5" {
		t.Errorf("a session of a minute: inner status %d, want viewer5 admitted", resp.StatusCode)
	}
	old := benchSession(6, time.Now().Add(-2*time.Hour), 24*time.Hour) // created 2h ago, lasting 24h
	if resp, seen := chain(old); seen != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session older than the inner session_ttl: inner status %d, upstream reached: %v; want 401", resp.StatusCode, seen != nil)
	}
}

// module.go:379: a session an earlier handler left with the request is
// not taken once it is over, whatever this handler's session_ttl.
func TestSessionFromEarlierHandlerIsNotTakenOnceOver(t *testing.T) {
	h := memoryHandler(t, nil)
	for name, c := range map[string]struct {
		s    *Session
		want bool
	}{
		"live":         {benchSession(7, time.Now(), time.Hour), true},
		"expired":      {benchSession(8, time.Now().Add(-2*time.Hour), time.Hour), false},
		"past its ttl": {benchSession(9, time.Now().Add(-200*time.Hour), 300*time.Hour), false},
	} {
		r := caddyhttp.PrepareRequest(apiGet("/", ""), caddy.NewReplacer(), nil, &caddyhttp.Server{})
		caddyhttp.SetVar(r.Context(), h.sessionVar, c.s)
		if got := h.sessionFromEarlierHandler(r); (got != nil) != c.want {
			t.Errorf("%s: taken = %v, want %v", name, got != nil, c.want)
		}
	}
}

// module.go:256, 276: what a handler before plex_auth set the user
// placeholders to is gone on every answer that does not admit: the
// module's own endpoints and a refusal (the access log must not name a
// user the client chose).
func TestNoAnswerButAdmissionKeepsAnEarlierHandlersPlaceholders(t *testing.T) {
	h := memoryHandler(t, map[string]any{"allow_tiers": []string{"owner"}})
	friend := h.CookieName + "=" + addSession(h, benchSession(10, time.Now(), time.Hour))
	for _, r := range []*http.Request{
		apiGet("/_plexauth/login", ""),
		apiGet("/_plexauth/nosuch", friend),
		apiGet("/", ""),
		apiGet("/", friend),
	} {
		repl := caddy.NewReplacer()
		r = caddyhttp.PrepareRequest(r, repl, nil, &caddyhttp.Server{})
		repl.Set("http.auth.user.id", "1")
		repl.Set("http.auth.user.username", "admin")
		resp, seen := throughPrepared(t, h, r)
		if seen != nil {
			t.Fatalf("%s: reached the upstream", r.URL.Path)
		}
		for _, k := range []string{"http.auth.user.id", "http.auth.user.username"} {
			if v, _ := repl.GetString(k); v != "" {
				t.Errorf("%s (status %d): {%s} = %q after plex_auth answered, want empty", r.URL.Path, resp.StatusCode, k, v)
			}
		}
	}
}

// provisionError is the error Caddy gets provisioning (then validating) a
// plex_auth with this JSON config, or nil; a handler that did provision is
// cleaned up.
func provisionError(t *testing.T, cfg map[string]any) error {
	t.Helper()
	memoryHandler(t, nil) // the Caddy instance provisionHandler starts
	ctx, cancel := caddy.NewContext(caddy.ActiveContext())
	defer cancel()
	raw, _ := json.Marshal(cfg)
	_, err := ctx.LoadModuleByID("http.handlers.plex_auth", raw)
	return err
}

// provision.go:41-93: what the config leaves out gets the default its
// field's documentation names, and what it gives is kept.
func TestProvisionFillsTheDocumentedDefaultsAndKeepsTheGivenValues(t *testing.T) {
	h := memoryHandler(t, nil)
	for name, c := range map[string]struct{ got, want any }{
		"product":      {h.Product, "Caddy"},
		"session_ttl":  {time.Duration(h.SessionTTL), 168 * time.Hour},
		"cookie_name":  {h.CookieName, "plex_auth_session"},
		"state cookie": {h.stateCookie, "plex_auth_session_state"},
		"prefix":       {h.Prefix, "/_plexauth"},
		"plex_tv_url":  {h.PlexTVURL, "https://plex.tv"},
		"plex_app_url": {h.PlexAppURL, "https://app.plex.tv/auth"},
		"timeout":      {time.Duration(h.Timeout), 10 * time.Second},
		"revalidate":   {h.revalidate, 10 * time.Minute},
		"cache_ttl":    {h.cacheTTL, time.Minute},
	} {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", name, c.got, c.want)
		}
	}
	h = memoryHandler(t, map[string]any{"product": "Media Tools", "revalidate": int64(3 * time.Minute), "cache_ttl": int64(7 * time.Second)})
	if h.Product != "Media Tools" || h.revalidate != 3*time.Minute || h.cacheTTL != 7*time.Second {
		t.Errorf("given product, revalidate, cache_ttl became %q, %v, %v", h.Product, h.revalidate, h.cacheTTL)
	}
}

// provision.go:55, 60, 118: a prefix or a plex_tv_url written with a
// trailing slash works as without it; the login page's form may go to
// plex_app_url's origin (its Content-Security-Policy says so).
func TestTrailingSlashesAreTrimmedAndTheLoginFormMayGoToPlex(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	h := memoryHandler(t, map[string]any{"prefix": "/auth/", "plex_tv_url": plex.URL + "/", "plex_app_url": plex.AppURL(), "timeout": int64(2 * time.Second)})
	r := httptest.NewRequest(http.MethodGet, "http://site.example/auth/login?rd=/x", nil)
	r.Header.Set("Accept", "text/html")
	resp, seen := through(t, h, r)
	if seen != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/login under prefix \"/auth/\": status %d, upstream reached: %v; want the login page", resp.StatusCode, seen != nil)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+plex.URL+";") {
		t.Errorf("login page CSP %q does not let the form go to %s", csp, plex.URL)
	}
	r = httptest.NewRequest(http.MethodPost, "http://site.example/auth/start", strings.NewReader(url.Values{"rd": {"/"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, _ = through(t, h, r)
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, plex.AppURL()) {
		t.Fatalf("POST /auth/start with plex_tv_url ending in /: status %d, Location %q; want a redirect to Plex", resp.StatusCode, loc)
	}
}

// provision.go:71: a server given as a placeholder is expanded, and the
// spaces around what it expands to are trimmed.
func TestServerPlaceholderIsExpandedAndTrimmed(t *testing.T) {
	t.Setenv("PLEXAUTH_BITE3_SERVER", " "+machineID+"\t")
	h := memoryHandler(t, map[string]any{"servers": []string{"{env.PLEXAUTH_BITE3_SERVER}"}})
	if len(h.Servers) != 1 || h.Servers[0] != machineID {
		t.Fatalf("servers = %q, want [%s]", h.Servers, machineID)
	}
}

// provision.go:99-101: configured secrets replace the generated one: a
// cookie sealed under them opens, and a secret too short is refused for
// what it is.
func TestConfiguredSecretsSealTheCookies(t *testing.T) {
	secret := "mutants-bite3-configured-secret-42"
	h := memoryHandler(t, map[string]any{"secrets": []string{secret}})
	keys, err := configuredSecrets([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer("session", keys)
	if err != nil {
		t.Fatal(err)
	}
	s := benchSession(11, time.Now(), time.Hour)
	rawID := randomBytes(sessionIDLen)
	h.sessions.PutLocal(string(rawID), s)
	c := h.CookieName + "=" + other.Seal(h.CookieName, rawID, s.Expires)
	if resp, seen := through(t, h, apiGet("/", c)); seen == nil {
		t.Fatalf("a cookie sealed under the configured secret: status %d, want admitted", resp.StatusCode)
	}
	if err := provisionError(t, map[string]any{"allow_any_plex_user": true, "store": "memory", "secrets": []string{"short"}}); err == nil || !strings.Contains(err.Error(), "at least 16 characters") {
		t.Fatalf("a short secret: %v, want it refused for its length", err)
	}
}

// provision.go:121, 141-152, 167-174: what only Provision can see (a
// placeholder's value, a file, a Redis URL) refuses the config rather
// than starting a block that quietly does less than it says.
func TestProvisionRefusesWhatOnlyExpansionReveals(t *testing.T) {
	t.Setenv("PLEXAUTH_BITE3_TWO_LINES", "a\nb")
	base := func(extra map[string]any) map[string]any {
		cfg := map[string]any{"servers": []string{machineID}, "store": "memory"}
		for k, v := range extra {
			cfg[k] = v
		}
		return cfg
	}
	for _, c := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"owner_token of an unset variable", base(map[string]any{"owner_token": "{env.PLEXAUTH_BITE3_UNSET}"}), "owner_token is empty"},
		{"app_sign_in key of two lines", base(map[string]any{"app_sign_in": map[string]any{"kind": "tautulli", "url": "http://127.0.0.1:8181", "api_key": "{env.PLEXAUTH_BITE3_TWO_LINES}"}}), "app_sign_in"},
		{"oidc_client secret of an unset variable", base(map[string]any{"oidc_clients": []map[string]any{{"id": "app", "secret": "{env.PLEXAUTH_BITE3_UNSET}", "redirect_uris": []string{"https://app.example.com/cb"}}}}), "oidc_client app"},
		{"login_template that is not there", base(map[string]any{"login_template": "/nonexistent/plexauth-bite3.html"}), "plexauth-bite3.html"},
		{"store_url that is not Redis's", base(map[string]any{"store": "redis", "store_url": "http://127.0.0.1:6379"}), "plex_auth"},
		{"store of an unknown kind", base(map[string]any{"store": "etcd"}), "unknown kind"},
	} {
		if err := provisionError(t, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// provision.go:138, 162-166: blocks share a session cache only when they
// use the same store, and take over each other's sessions only when they
// would have opened the same cookie (same name, secrets and store).
func TestBlocksShareSessionsOnlyWithTheSameStoreAndSecrets(t *testing.T) {
	r1 := memoryHandler(t, map[string]any{"store": "redis", "store_url": fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t))})
	r2 := memoryHandler(t, map[string]any{"store": "redis", "store_url": fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t))})
	if r1.sessions == r2.sessions {
		t.Error("two Redis URLs share one session cache")
	}
	a, b, c := strings.Repeat("a", 20), strings.Repeat("b", 20), strings.Repeat("c", 20)
	for _, pair := range [][2][]string{
		{{a + b, c}, {a, b + c}}, // the same bytes, cut elsewhere
		{{a, c}, {b, c}},         // the same lengths
		{{a}, {b}},
	} {
		outer := memoryHandler(t, map[string]any{"secrets": pair[0]})
		inner := memoryHandler(t, map[string]any{"secrets": pair[1]})
		r := apiGet("/", outer.CookieName+"="+addSession(outer, benchSession(12, time.Now(), time.Hour)))
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
		_, seen := throughPrepared(t, outer, r)
		if seen == nil {
			t.Fatal("the outer handler refused its own session")
		}
		if resp, seen := throughPrepared(t, inner, seen); seen != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("secrets %d/%d: the inner block (other secrets) took the session over: status %d", len(pair[0][0]), len(pair[1][0]), resp.StatusCode)
		}
	}
}

// provision.go:156: an account's sign-out marker outlives the block's
// session_ttl, however much longer than the default it is, or a session
// signed out everywhere would come back once its marker expired.
func TestSignoutMarkerOutlivesALongSessionTTL(t *testing.T) {
	addr := startRedis(t)
	h := memoryHandler(t, map[string]any{"store": "redis", "store_url": "redis://" + addr + "/0", "session_ttl": int64(500 * time.Hour)})
	if _, err := h.sessions.EndAccount(context.Background(), 4242, time.Now()); err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	keys, err := rc.Keys(context.Background(), "plex_auth:signout:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("sign-out markers %q, %v; want one", keys, err)
	}
	if ttl := rc.TTL(context.Background(), keys[0]).Val(); ttl < 500*time.Hour {
		t.Fatalf("the marker lasts %v, want more than the session_ttl of 500h", ttl)
	}
}

// provision.go:224-226: an error shown in the log loses a URL's
// credentials, wherever the URL stands in it.
func TestRedactedErrorDropsURLCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"dial redis://:hunter2@127.0.0.1:1: refused": "dial redis://…@127.0.0.1:1: refused",
		"//user:hunter2@host":                        "//…@host",
		"no credentials here":                        "no credentials here",
		"mail me@example.com":                        "mail me@example.com",
	} {
		if got := redactedError(errors.New(in)); got != want {
			t.Errorf("redactedError(%q) = %q, want %q", in, got, want)
		}
	}
}

// provision.go:235-244: Cleanup gives back the block's references to the
// shared session cache and sign-in limits, so a config that no longer
// uses them lets them go.
func TestCleanupReleasesTheSharedSessionsAndLimits(t *testing.T) {
	h, stop := provisionHandler(t, map[string]any{"allow_any_plex_user": true, "store": "redis",
		"store_url": fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)), "client_id": fmt.Sprintf("bite3-%d", freePort(t))})
	if n, ok := sessionPool.References(h.poolKey); !ok || n != 1 {
		t.Fatalf("session pool references %d, %v before Cleanup", n, ok)
	}
	if n, ok := limitsPool.References(h.limitsKey); !ok || n != 1 {
		t.Fatalf("limits pool references %d, %v before Cleanup", n, ok)
	}
	stop()
	if _, ok := sessionPool.References(h.poolKey); ok {
		t.Error("the session cache is still held after Cleanup")
	}
	if _, ok := limitsPool.References(h.limitsKey); ok {
		t.Error("the sign-in limits are still held after Cleanup")
	}
}

// provision.go:60: blocks naming one plex.tv, with or without a trailing
// slash, count their sign-ins against the same limits for all clients.
func TestOnePlexTVWrittenTwoWaysSharesItsSignInLimits(t *testing.T) {
	id := fmt.Sprintf("bite3-limits-%d", freePort(t))
	h1 := memoryHandler(t, map[string]any{"plex_tv_url": "https://plex.tv", "client_id": id})
	h2 := memoryHandler(t, map[string]any{"plex_tv_url": "https://plex.tv/", "client_id": id})
	if h1.limits != h2.limits {
		t.Fatal("https://plex.tv and https://plex.tv/ count against different sign-in limits")
	}
}

// provision.go:96: a storage that cannot give the installation's
// identity refuses the config, even with secrets configured (the client
// identifier plex.tv sees comes from there too).
func TestUnreadableIdentityInStorageRefusesTheConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "plex_auth"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(identity.SecretKey)), []byte("not a secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"storage":{"module":"file_system","root":%q},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],`+
		`"routes":[{"handle":[{"handler":"plex_auth","allow_any_plex_user":true,"store":"memory","secrets":["mutants-bite3-configured-secret-42"]}]}]}}}}}`, dir)
	var c caddy.Config
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err == nil || !strings.Contains(err.Error(), "does not hold a valid secret") {
		t.Fatalf("a storage holding a broken secret: %v, want the config refused", err)
	}
}

// provision.go:134, 250-254: the session cache lives across reloads while
// the storage stays the same (memory keeps its sessions), and a reload
// onto another storage gets a cache writing there.
func TestSessionCacheFollowsTheStorageAcrossReloads(t *testing.T) {
	e := newEnv(t, basicSite)
	handler := func() *PlexAuth {
		app, err := caddy.ActiveContext().App("http")
		if err != nil {
			t.Fatal(err)
		}
		for _, srv := range app.(*caddyhttp.App).Servers {
			if h := findPlexAuth(srv.Routes); h != nil {
				return h
			}
		}
		t.Fatal("no plex_auth in the config")
		return nil
	}
	h := handler()
	first := h.sessions
	// Another config (Caddy skips loading an unchanged one), same storage.
	e.load(strings.Replace(basicSite, `product "Media Tools"`, `product "Media Tools, reloaded"`, 1))
	if again := handler(); again == h || again.sessions != first {
		t.Errorf("a reload on the same storage made a new session cache (handler replaced: %v)", again != h)
	}
	e.storage = t.TempDir()
	e.load(basicSite)
	if handler().sessions == first {
		t.Error("a reload onto another storage kept the cache of the old one")
	}
}

// provision.go:235: Cleanup stops the owner's list's background reads
// (which carry the owner's token to plex.tv).
func TestCleanupStopsTheOwnersListReads(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer(machineID, "Living Room")
	plex.AddAccount("owner")
	plex.Share(machineID, "owner", plextest.Owner)
	readers := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "ownerlist.(*List).run(")
	}
	before := readers()
	h, stop := provisionHandler(t, map[string]any{"servers": []string{machineID}, "store": "memory", "owner_token": plex.Account("owner").Token,
		"plex_tv_url": plex.URL, "plex_app_url": plex.AppURL(), "timeout": int64(2 * time.Second)})
	if h.owner == nil {
		stop()
		t.Fatal("no owner's list with owner_token")
	}
	waitUntil(t, "the owner's list to read", func() bool { return readers() > before })
	stop()
	waitUntil(t, "the owner's list to stop after Cleanup", func() bool { return readers() <= before })
}
