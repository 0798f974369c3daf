package appsignin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/apptest"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

const pmsUUID = "9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c"

func newPlex(t *testing.T, names ...string) (*plextest.Server, map[string]*plextest.Account) {
	t.Helper()
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	accts := map[string]*plextest.Account{}
	for _, n := range names {
		accts[n] = plex.AddAccount(n)
	}
	return plex, accts
}

func mustApp(t *testing.T, kind, url, key string) *App {
	t.Helper()
	a, err := New(kind, url, key, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func refused(t *testing.T, err error, status int) *Refused {
	t.Helper()
	var r *Refused
	if !errors.As(err, &r) {
		t.Fatalf("error %v, want a refusal with status %d", err, status)
	}
	if r.Status != status {
		t.Fatalf("refusal %v, want status %d", r, status)
	}
	return r
}

func TestOverseerrSignInSetsItsSessionCookie(t *testing.T) {
	plex, a := newPlex(t, "alice")
	o := apptest.NewOverseerr(plex.URL)
	defer o.Close()
	app := mustApp(t, "overseerr", o.URL+"/", "")
	c, err := app.SignIn(context.Background(), a["alice"].Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != OverseerrCookie || c.Path != "/" || c.Value == "" {
		t.Fatalf("cookie %+v, want connect.sid at /", c)
	}
	if d := time.Until(c.Expires); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Fatalf("cookie expires in %v, want the app's 30 days", d)
	}
	if got := o.SessionUser(c.Value); got != a["alice"].ID {
		t.Fatalf("the cookie signs in Plex id %d, want %d", got, a["alice"].ID)
	}
	if u := o.User(a["alice"].ID); u == nil || u.Token != a["alice"].Token {
		t.Fatalf("Overseerr stored %+v, want alice's token", u)
	}
	if err := app.SignOut(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if o.SessionUser(c.Value) != 0 {
		t.Fatal("the session outlived its sign-out")
	}
}

func TestOverseerrRefusals(t *testing.T) {
	plex, a := newPlex(t, "alice", "bob", "carol")
	o := apptest.NewOverseerr(plex.URL)
	defer o.Close()
	app := mustApp(t, "overseerr", o.URL, "")
	ctx := context.Background()

	o.SetNewPlexLogin(false)
	if r := refused(t, first(app.SignIn(ctx, a["alice"].Token)), 403); r.Message != "Access denied." {
		t.Fatalf("message %q", r.Message)
	}
	o.Import(a["alice"].ID)
	if _, err := app.SignIn(ctx, a["alice"].Token); err != nil {
		t.Fatalf("an imported user: %v", err)
	}
	o.SetNewPlexLogin(true)
	o.Deny(a["bob"].ID)
	refused(t, first(app.SignIn(ctx, a["bob"].Token)), 403)
	// Seerr: the main user is answered REQUIRES_PROFILE, with no cookie.
	o.SetSeerrMainUser(a["carol"].ID)
	if r := refused(t, first(app.SignIn(ctx, a["carol"].Token)), 200); r.Message != "REQUIRES_PROFILE" {
		t.Fatalf("message %q, want REQUIRES_PROFILE", r.Message)
	}
	plex.RevokeToken("alice")
	refused(t, first(app.SignIn(ctx, a["alice"].Token)), 500)
}

func first(_ Cookie, err error) error { return err }

func TestOverseerrCSRFProtection(t *testing.T) {
	plex, a := newPlex(t, "alice")
	o := apptest.NewOverseerr(plex.URL)
	defer o.Close()
	o.SetCSRF(true)
	app := mustApp(t, "overseerr", o.URL, "")
	c, err := app.SignIn(context.Background(), a["alice"].Token)
	if err != nil {
		t.Fatal(err)
	}
	if o.SessionUser(c.Value) != a["alice"].ID {
		t.Fatal("not signed in")
	}
	if err := app.SignOut(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if o.Sessions() != 0 {
		t.Fatal("the sign-out did not pass the CSRF check")
	}
}

func TestTautulliSignInThroughItsCSRFCheck(t *testing.T) {
	plex, a := newPlex(t, "alice")
	tt := apptest.NewTautulli(plex.URL, pmsUUID, "/tautulli")
	defer tt.Close()
	tt.AllowGuest(a["alice"].ID)
	app := mustApp(t, "tautulli", tt.URL, "")
	c, err := app.SignIn(context.Background(), a["alice"].Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "tautulli_token_"+tt.Hash || c.Path != "/tautulli" {
		t.Fatalf("cookie %+v, want %s at /tautulli", c, tt.CookieName())
	}
	if d := time.Until(c.Expires); d < 29*24*time.Hour {
		t.Fatalf("cookie expires in %v, want remember_me's 30 days", d)
	}
	if tt.TokenUser(c.Value) != a["alice"].ID {
		t.Fatal("the cookie signs no one in")
	}
	if n := tt.Count("GET", "/tautulli/auth/login"); n != 1 {
		t.Fatalf("%d GETs of the login page, want 1 (its CSRF token)", n)
	}
	if err := app.SignOut(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if tt.TokenUser(c.Value) != 0 {
		t.Fatal("the sign-in outlived its sign-out")
	}
}

func TestTautulliAPIKeySkipsTheCSRFCheck(t *testing.T) {
	plex, a := newPlex(t, "alice")
	tt := apptest.NewTautulli(plex.URL, pmsUUID, "")
	defer tt.Close()
	tt.AllowGuest(a["alice"].ID)
	if _, err := mustApp(t, "tautulli", tt.URL, tt.APIKey).SignIn(context.Background(), a["alice"].Token); err != nil {
		t.Fatal(err)
	}
	if n := tt.Count("GET", "/auth/login"); n != 0 {
		t.Fatalf("%d GETs of the login page with an API key, want 0", n)
	}
	refused(t, first(mustApp(t, "tautulli", tt.URL, "wrong").SignIn(context.Background(), a["alice"].Token)), 403)
	// An older Tautulli checks nothing and serves no token.
	tt.SetCSRF(false)
	if _, err := mustApp(t, "tautulli", tt.URL, "").SignIn(context.Background(), a["alice"].Token); err != nil {
		t.Fatal(err)
	}
}

func TestTautulliRefusesThenLocksTheAddressOut(t *testing.T) {
	plex, a := newPlex(t, "mallory")
	tt := apptest.NewTautulli(plex.URL, pmsUUID, "")
	defer tt.Close()
	app := mustApp(t, "tautulli", tt.URL, "")
	for range 10 {
		refused(t, first(app.SignIn(context.Background(), a["mallory"].Token)), 401)
	}
	if r := refused(t, first(app.SignIn(context.Background(), a["mallory"].Token)), 429); r.RetryAfter <= 0 || r.RetryAfter > 301*time.Second {
		t.Fatalf("Retry-After %v, want the lock-out's up to 300 s", r.RetryAfter)
	}
}

// TestCallsCarryOnlyWhatTheAppNeeds: no cookie, no header of anyone's, no
// token anywhere in what a refusal keeps.
func TestCallsCarryOnlyWhatTheAppNeeds(t *testing.T) {
	const token = "secret-plex-token-123"
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"message":"bad token ` + token + "\x1b[31m" + `"}`))
	}))
	defer srv.Close()
	_, err := mustApp(t, "overseerr", srv.URL, "").SignIn(context.Background(), token)
	r := refused(t, err, 400)
	if strings.Contains(err.Error(), token) || strings.Contains(r.Message, token) || strings.ContainsRune(r.Message, 0x1b) {
		t.Fatalf("the refusal keeps the token or a control character: %q", r.Message)
	}
	for k := range seen {
		switch k {
		case "Accept", "Content-Type", "Content-Length", "User-Agent", "Accept-Encoding":
		default:
			t.Errorf("the sign-in call carried %s: %q", k, seen[k])
		}
	}
}

func TestUnreachableIsNotARefusal(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := mustApp(t, "overseerr", url, "").SignIn(context.Background(), "tok")
	var r *Refused
	if err == nil || errors.As(err, &r) {
		t.Fatalf("error %v, want an unreachable application", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct{ kind, url, key, want string }{
		{"jellyfin", "http://localhost:5055", "", "unknown kind"},
		{"overseerr", "localhost:5055", "", "absolute"},
		{"overseerr", "ftp://localhost", "", "absolute"},
		{"overseerr", "http://u:p@localhost:5055", "", "credentials"},
		{"overseerr", "http://localhost:5055/?x=1", "", "query"},
		{"overseerr", "http://localhost:5055", "key", "no API key"},
		{"tautulli", "http://localhost:8181", "a\nb", "one line"},
	} {
		_, err := New(tc.kind, tc.url, tc.key, time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q, %q) = %v, want an error saying %q", tc.kind, tc.url, tc.key, err, tc.want)
		}
	}
	a := mustApp(t, "tautulli", "http://localhost:8181/tautulli/", "k")
	if m, p := a.LogoutPath(); m != "GET" || p != "/tautulli/auth/logout" || a.URL() != "http://localhost:8181/tautulli" {
		t.Fatalf("LogoutPath %s %s, URL %s", m, p, a.URL())
	}
}
