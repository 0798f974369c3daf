package plexauth

// Unit tests for rules a mutation run showed unguarded: each fails when the
// line keeping its rule is changed (see scripts/mutants.sh).

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// serveOnce runs one request through h as Caddy would hand it over.
func serveOnce(t *testing.T, h *PlexAuth, r *http.Request) *http.Response {
	t.Helper()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("an endpoint called the next handler")
		return nil
	})); err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return w.Result()
}

func TestStateCookieIsHttpOnlyLaxAndOnlyUnderThePrefix(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	h, stop := provisionHandler(t, map[string]any{
		"allow_any_plex_user": true, "store": "memory",
		"plex_tv_url": plex.URL, "plex_app_url": plex.AppURL(), "timeout": int64(2 * time.Second),
	})
	defer stop()
	for _, popup := range []string{"0", "1"} {
		r := httptest.NewRequest(http.MethodPost, "http://site.example/_plexauth/start",
			strings.NewReader(url.Values{"rd": {"/"}, "popup": {popup}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		resp := serveOnce(t, h, r)
		var state *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == h.stateCookie {
				state = c
			}
		}
		if state == nil {
			t.Fatalf("popup=%s: status %d and no state cookie", popup, resp.StatusCode)
		}
		// Scripts on the site must not read the login state (README,
		// security notes: the state cookie is HttpOnly).
		if !state.HttpOnly || state.SameSite != http.SameSiteLaxMode || state.Path != "/_plexauth/" || state.MaxAge <= 0 {
			t.Fatalf("popup=%s: state cookie HttpOnly=%v SameSite=%v Path=%q Max-Age=%d, want HttpOnly; SameSite=Lax; Path=/_plexauth/; a Max-Age", popup, state.HttpOnly, state.SameSite, state.Path, state.MaxAge)
		}
	}
}

func TestOtherSpellingsAreRemovedWhereTheServerAllowsDotOrUnderscoreNames(t *testing.T) {
	for name, srv := range map[string]*caddyhttp.Server{
		"expected_dot_headers only":        {ExpectedDotHeaders: []string{"Remote.User", "Remote.Groups"}},
		"expected_underscore_headers only": {ExpectedUnderscoreHeaders: []string{"Remote_User", "Remote_Groups"}},
		"outside a Caddy server":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, k := range []string{"Remote.User", "Remote_User", "remote.groups", "Remote_Groups"} {
				r.Header[k] = []string{"admin"}
			}
			r.Header.Set("Remote-User", "canonical")
			stripOtherSpellings(r, srv)
			left := spoofedIdentity(r.Header)
			if len(left) != 1 || r.Header.Get("Remote-User") != "canonical" {
				t.Fatalf("headers left %v, want only the canonical Remote-User (ServeHTTP's to set or delete)", left)
			}
		})
	}
}

// substrings returns every substring of s of n characters (none when s is
// shorter).
func substrings(s string, n int) []string {
	var out []string
	for i := 0; i+n <= len(s); i++ {
		out = append(out, s[i:i+n])
	}
	return out
}

// idParts is every 8-character piece of the usual encodings of id.
func idParts(id string) []string {
	var out []string
	for _, enc := range []string{
		id, hex.EncodeToString([]byte(id)), strings.ToUpper(hex.EncodeToString([]byte(id))),
		base64.StdEncoding.EncodeToString([]byte(id)), base64.RawURLEncoding.EncodeToString([]byte(id)),
	} {
		out = append(out, substrings(enc, 8)...)
	}
	return out
}

func TestSessionHandleShowsNoPartOfTheSessionID(t *testing.T) {
	f := newAdminFixture(t, 1)
	var ids []string
	for i := range 4 {
		id, _ := f.signIn(0, int64(9101+i), "user", map[string]string{"m1": access.TierFriend})
		ids = append(ids, id)
	}
	_, body := f.call(http.MethodGet, "/plex_auth/sessions")
	if n := len(f.list(9101, 9102, 9103, 9104)); n != len(ids) {
		t.Fatalf("listed %d of the %d sessions", n, len(ids))
	}
	for _, id := range ids {
		for _, part := range idParts(id) {
			if strings.Contains(body, part) {
				t.Fatalf("the session list shows part of a session id (%q): %s", part, body)
			}
		}
	}
	// Ids of any length, short ones too (memory may hold any id a store
	// gave it): the handle is fixed-size and shows none of them.
	for _, id := range []string{string(randomBytes(sessionIDLen)), string(randomBytes(12)), string(randomBytes(3)), "abc", ""} {
		h := admin.Handle(id)
		if len(h) != 24 || h != admin.Handle(id) {
			t.Fatalf("handle %q of a %d-byte id: want 24 hex characters, the same each time", h, len(id))
		}
		for _, part := range idParts(id) {
			if strings.Contains(h, part) {
				t.Fatalf("the handle %q of a %d-byte id shows part of it (%q)", h, len(id), part)
			}
		}
	}
}

func TestStoreMemoryKeepsSessionsAcrossAReload(t *testing.T) {
	cfg := map[string]any{"allow_any_plex_user": true, "store": "memory"}
	old, stopOld := provisionHandler(t, cfg)
	now := time.Now()
	s := &Session{UserID: 7, Username: "kept", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	if err := old.sessions.Put(context.Background(), "reload-test-session", s); err != nil {
		t.Fatal(err)
	}
	// A reload provisions the new handlers before cleaning up the old ones.
	reloaded, stopNew := provisionHandler(t, cfg)
	defer stopNew()
	stopOld()
	got, err := reloaded.sessions.Lookup("reload-test-session", time.Now(), time.Hour)
	if err != nil || got != s {
		t.Fatalf("after a reload the session is %v (%v): store memory signed it out", got, err)
	}
	reloaded.sessions.Remove("reload-test-session")
}

func TestValidateRefusesAnUnknownTierInAJSONConfig(t *testing.T) {
	_, stop := provisionHandler(t, map[string]any{"allow_any_plex_user": true, "store": "memory"})
	stop()
	load := func(tiers ...string) error {
		raw, _ := json.Marshal(map[string]any{"servers": []string{machineID}, "allow_tiers": tiers, "store": "memory"})
		ctx, cancel := caddy.NewContext(caddy.ActiveContext())
		defer cancel()
		_, err := ctx.LoadModuleByID("http.handlers.plex_auth", raw)
		return err
	}
	if err := load(access.TierOwner, access.TierFriend); err != nil {
		t.Fatalf("a JSON config with known tiers does not load: %v", err)
	}
	for _, bad := range []string{"admin", "friends", "", "owner "} {
		err := load(access.TierOwner, bad)
		if err == nil || !strings.Contains(err.Error(), "allow_tier") {
			t.Fatalf("a JSON config with allow_tiers [owner %q] loaded (%v); want it refused, naming allow_tier", bad, err)
		}
	}
}
