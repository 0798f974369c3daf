package plexauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
)

func parse(t *testing.T, input string) (*PlexAuth, error) {
	t.Helper()
	var p PlexAuth
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return &p, err
}

func TestCaddyfileParsesEveryOption(t *testing.T) {
	p, err := parse(t, `plex_auth {
		product "Media Tools"
		client_id abc123
		server aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
		allow_tier owner HOME
		allow_users alice Bob@Example.com 12345
		session_ttl 24h
		cookie_name tools_session
		cookie_domain example.com
		prefix /auth-plex
		redirect_domains .example.com other.example
		plex_tv_url http://127.0.0.1:1234
		plex_app_url http://127.0.0.1:1234/auth
		timeout 3s
		owner_token {env.PLEX_TOKEN}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"product":          p.Product == "Media Tools",
		"client_id":        p.ClientID == "abc123",
		"server":           len(p.Servers) == 2 && p.Servers[1] == "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"allow_tier":       len(p.AllowTiers) == 2 && p.AllowTiers[1] == "home",
		"allow_users":      len(p.AllowUsers) == 3,
		"session_ttl":      time.Duration(p.SessionTTL) == 24*time.Hour,
		"cookie_name":      p.CookieName == "tools_session",
		"cookie_domain":    p.CookieDomain == "example.com",
		"prefix":           p.Prefix == "/auth-plex",
		"redirect_domains": len(p.RedirectDomains) == 2,
		"plex_tv_url":      p.PlexTVURL == "http://127.0.0.1:1234",
		"plex_app_url":     p.PlexAppURL == "http://127.0.0.1:1234/auth",
		"timeout":          time.Duration(p.Timeout) == 3*time.Second,
		"owner_token":      p.OwnerToken == "{env.PLEX_TOKEN}",
	}
	for opt, ok := range checks {
		if !ok {
			t.Errorf("%s not parsed: %+v", opt, p)
		}
	}
}

func TestCaddyfileMistakesNameTheOptionAndLine(t *testing.T) {
	cases := []struct {
		name, input, want string
		line              string
	}{
		{"nothing admitted", "plex_auth {\n\tproduct x\n}", "plex_auth needs server, allow_users or allow_any_plex_user", "Testfile:1"},
		{"empty block", "plex_auth", "needs server, allow_users or allow_any_plex_user", "Testfile:1"},
		{"any plus server", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tallow_any_plex_user\n}", "allow_any_plex_user cannot be combined", "Testfile:1"},
		{"unknown option", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tservers b\n}", `unknown plex_auth option "servers"`, "Testfile:3"},
		{"bad tier", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tallow_tier admin\n}", `allow_tier: unknown tier "admin"`, "Testfile:3"},
		{"tier without server", "plex_auth {\n\tallow_users a\n\tallow_tier owner\n}", "allow_tier needs server", "Testfile:1"},
		{"bad duration", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tsession_ttl forever\n}", `session_ttl: "forever" is not a positive duration`, "Testfile:3"},
		{"negative timeout", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\ttimeout -1s\n}", "timeout", "Testfile:3"},
		{"two products", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tproduct a b\n}", "product takes exactly one value", "Testfile:3"},
		{"server without value", "plex_auth {\n\tserver\n}", "server needs at least one value", "Testfile:2"},
		{"bad url", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tplex_tv_url ftp://x\n}", "plex_tv_url", "Testfile:3"},
		{"bad prefix", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tprefix nope\n}", "prefix", "Testfile:3"},
		{"prefix of slashes only", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tprefix //\n}", `prefix "//" must be a path like /_plexauth`, "Testfile:3"},
		{"bad cookie name", "plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tcookie_name a;b\n}", "cookie_name", "Testfile:3"},
		{"argument on directive", "plex_auth foo", "wrong argument count", "Testfile:1"},
		{"server as URL", "plex_auth {\n\tserver http://192.168.1.10:32400\n}", `is a URL, not a Plex machine identifier: open http://<your-plex>:32400/identity`, "Testfile:2"},
		{"server as address", "plex_auth {\n\tserver 192.168.1.10\n}", "looks like an address or host name", "Testfile:2"},
		{"server as host name", "plex_auth {\n\tserver plex.home.arpa\n}", "looks like an address or host name", "Testfile:2"},
		{"server as short name", "plex_auth {\n\tserver localhost\n}", "too short or too long", "Testfile:2"},
		{"cookie_domain with scheme", "plex_auth {\n\tserver " + machineID + "\n\tcookie_domain https://example.com\n}", "cookie_domain: \"https://example.com\" has a scheme", "Testfile:3"},
		{"cookie_domain with port", "plex_auth {\n\tserver " + machineID + "\n\tcookie_domain example.com:443\n}", "has a port", "Testfile:3"},
		{"cookie_domain with path", "plex_auth {\n\tserver " + machineID + "\n\tcookie_domain example.com/tools\n}", "has a path", "Testfile:3"},
		{"option twice", "plex_auth {\n\tserver " + machineID + "\n\tproduct A\n\tproduct B\n}", "product is given twice in this plex_auth block (first at line 3)", "Testfile:4"},
		{"store twice", "plex_auth {\n\tserver " + machineID + "\n\tstore memory\n\tstore caddy\n}", "store is given twice", "Testfile:4"},
		{"allow_tier alone", "plex_auth {\n\tallow_tier owner\n}", "allow_tier needs server", "Testfile:1"},
		{"owner_token without server", "plex_auth {\n\tallow_users a\n\towner_token s3cr3t-t0ken\n}", "owner_token needs server", "Testfile:1"},
		{"owner_token twice over", "plex_auth {\n\tserver " + machineID + "\n\towner_token s3cr3t-t0ken more\n}", "owner_token takes exactly one value", "Testfile:3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(t, c.input)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error shows the owner token: %v", err)
			}
			if c.line != "" && !strings.HasSuffix(err.Error(), ", at "+c.line) {
				t.Fatalf("error = %v, want it to end with the place %s", err, c.line)
			}
		})
	}
}

func TestValidateRejectsJSONConfigsThatAdmitEveryone(t *testing.T) {
	for name, p := range map[string]PlexAuth{
		"nothing":                    {},
		"any plus users":             {AllowAnyPlexUser: true, AllowUsers: []string{"a"}},
		"bad tier":                   {Servers: []string{machineID}, AllowTiers: []string{"root"}},
		"owner_token without server": {AllowUsers: []string{"a"}, OwnerToken: "t"},
		"bad plex_tv_url":            {Servers: []string{machineID}, PlexTVURL: "plex.tv", PlexAppURL: "https://app.plex.tv/auth", CookieName: "c", Prefix: "/p", SessionTTL: 1, Timeout: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if err := p.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
	ok := PlexAuth{Servers: []string{machineID}, PlexTVURL: "https://plex.tv", PlexAppURL: "https://app.plex.tv/auth", CookieName: "c", Prefix: "/p", SessionTTL: 1, Timeout: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func ruleHandler(servers, tiers, users []string) *PlexAuth {
	h := &PlexAuth{Servers: servers, AllowTiers: tiers, AllowUsers: users}
	if len(h.AllowTiers) == 0 {
		h.AllowTiers = []string{access.TierOwner, access.TierHome, access.TierFriend}
	}
	h.allowTiers = map[string]bool{}
	for _, t := range h.AllowTiers {
		h.allowTiers[t] = true
	}
	h.allowUsers, _ = access.NewAllowList(users)
	return h
}

func TestAdmitRules(t *testing.T) {
	friend := &Session{UserID: 7, Username: "Alice", Email: "alice@example.com", Servers: map[string]string{"srv": access.TierFriend, "other": access.TierOwner}}
	friend.Prepare()
	cases := []struct {
		name     string
		h        *PlexAuth
		wantOK   bool
		wantTier string
	}{
		{"friend on friends-welcome server", ruleHandler([]string{"srv"}, nil, nil), true, access.TierFriend},
		{"friend refused on owner-only server", ruleHandler([]string{"srv"}, []string{access.TierOwner}, nil), false, ""},
		{"best tier across configured servers", ruleHandler([]string{"srv", "other"}, nil, nil), true, access.TierOwner},
		{"server the account cannot reach", ruleHandler([]string{"nope"}, nil, nil), false, ""},
		{"allow_users by username, any case", ruleHandler(nil, nil, []string{"ALICE"}), true, ""},
		{"allow_users by email", ruleHandler(nil, nil, []string{"Alice@Example.com"}), true, ""},
		{"allow_users by id", ruleHandler(nil, nil, []string{"7"}), true, ""},
		{"allow_users miss", ruleHandler(nil, nil, []string{"bob"}), false, ""},
		{"server and users both must hold", ruleHandler([]string{"nope"}, nil, []string{"alice"}), false, ""},
		{"any plex user", &PlexAuth{AllowAnyPlexUser: true}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tier, ok := c.h.admit(friend)
			if ok != c.wantOK || tier != c.wantTier {
				t.Fatalf("admit = %q, %v; want %q, %v", tier, ok, c.wantTier, c.wantOK)
			}
		})
	}
}

func TestIsNavigation(t *testing.T) {
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		want   bool
	}{
		{"browser", "GET", map[string]string{"Accept": "text/html,*/*"}, true},
		{"head", "HEAD", map[string]string{"Accept": "text/html"}, true},
		{"post", "POST", map[string]string{"Accept": "text/html"}, false},
		{"json", "GET", map[string]string{"Accept": "application/json"}, false},
		{"no accept", "GET", nil, false},
		{"websocket", "GET", map[string]string{"Accept": "text/html", "Upgrade": "websocket"}, false},
		{"xhr", "GET", map[string]string{"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, false},
		{"fetch", "GET", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "cors"}, false},
		{"navigate", "GET", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}, true},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/", nil)
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if got := isNavigation(r); got != c.want {
			t.Errorf("%s: isNavigation = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSpoofedIdentityHeadersNeverReachNextWithoutSession(t *testing.T) {
	h := ruleHandler([]string{"srv"}, nil, nil)
	h.CookieName = "plex_auth_session"
	h.setPrefix("/_plexauth")
	var err error
	if h.sessionSealer, err = newSealer("session", [][]byte{make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	h.sessions = newSessionCache(nil, nil)
	defer h.sessions.Destruct()
	called := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { called = true; return nil })
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Remote-User", "owner")
	r.Header.Set("Accept", "application/json")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if called || w.Code != http.StatusUnauthorized || r.Header.Get("Remote-User") != "" {
		t.Fatalf("called=%v code=%d Remote-User=%q", called, w.Code, r.Header.Get("Remote-User"))
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("401 for a JSON client should be JSON, got %q", w.Header().Get("Content-Type"))
	}
}

func TestCaddyfileParsesSessionOptions(t *testing.T) {
	p, err := parse(t, `plex_auth {
		server aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
		revalidate 5m
		cache_ttl 30s
		store redis redis://127.0.0.1:6379/0
		secret {env.NEW_SECRET} an-older-secret-value
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(p.Revalidate) != 5*time.Minute || time.Duration(p.CacheTTL) != 30*time.Second ||
		p.Store != "redis" || p.StoreURL != "redis://127.0.0.1:6379/0" || len(p.Secrets) != 2 {
		t.Fatalf("parsed %+v", p)
	}
	for _, c := range []struct{ input, want string }{
		{"plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tstore memory\n}", ""},
		{"plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tstore caddy\n}", ""},
		{"plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tstore postgres x\n}", "store takes"},
		{"plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tstore redis http://x\n}", "the URL must start with redis://"},
		{"plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tsecret short\n}", "at least 16 characters"},
		{"plex_auth {\n\tserver 9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c\n\tcache_ttl 0s\n}", "not a positive duration"},
	} {
		_, err := parse(t, c.input)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: err = %v, want %q", c.input, err, c.want)
		}
	}
}
