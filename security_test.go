package plexauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/pages"
)

// Each test here keeps one security rule honest: it fails when the line
// that enforces the rule is broken (the table "What the tests prove" in
// docs/tests.md names them). A rule enforced in more than one place gets a
// test that isolates each place, so a second guard cannot hide a broken first.

// sessionHandler is a handler with what ServeHTTP needs to admit or refuse
// a session cookie: sealing, an in-memory session cache, and rules that
// admit any Plex account (so admission itself gives no tier). Re-checks are
// off: these tests look at the admission only.
func sessionHandler(t *testing.T, ttl time.Duration) *PlexAuth {
	t.Helper()
	h := &PlexAuth{
		AllowAnyPlexUser: true,
		CookieName:       defaultCookieName,
		SessionTTL:       caddy.Duration(ttl),
		logger:           zap.NewNop(),
	}
	h.setPrefix(defaultPrefix)
	var err error
	if h.sessionSealer, err = newSealer("session", [][]byte{make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	h.sessions = newSessionCache(nil, zap.NewNop())
	t.Cleanup(func() { _ = h.sessions.Destruct() })
	return h
}

// storeSession puts s in h's cache under a fresh id and returns the cookie
// value naming it, sealed to stay valid for a day whatever s says: the
// session's own dates must do the refusing.
func storeSession(t *testing.T, h *PlexAuth, s *Session) string {
	t.Helper()
	raw := randomBytes(sessionIDLen)
	if err := h.sessions.Put(context.Background(), string(raw), s); err != nil {
		t.Fatal(err)
	}
	return h.sessionSealer.Seal(h.CookieName, raw, time.Now().Add(24*time.Hour))
}

// serveWithCookie sends a JSON request carrying the session cookie (and
// hdr) through h, and returns the answer and the request the next handler
// saw (nil when it was not called).
func serveWithCookie(t *testing.T, h *PlexAuth, cookie string, hdr http.Header) (*httptest.ResponseRecorder, *http.Request) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/app", nil)
	for k, v := range hdr {
		r.Header[k] = v
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Cookie", h.CookieName+"="+cookie)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	var seen *http.Request
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r
		return nil
	})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w, seen
}

func testSession(created, expires time.Time) *Session {
	return &Session{
		UserID: 1003, UUID: "0123456789abcdef", Username: "friend", Email: "friend@example.com", Title: "Friend",
		Servers: map[string]string{}, Token: "token",
		Created: created, Checked: time.Now(), Expires: expires,
	}
}

func TestSignedInWithoutTierGetsNoClientRemoteGroups(t *testing.T) {
	// allow_any_plex_user (like allow_users alone) admits without a tier,
	// so plex_auth has no Remote-Groups of its own to put in the client's.
	h := sessionHandler(t, time.Hour)
	cookie := storeSession(t, h, testSession(time.Now(), time.Now().Add(time.Hour)))
	w, seen := serveWithCookie(t, h, cookie, http.Header{"Remote-Groups": {"owner"}})
	if seen == nil {
		t.Fatalf("a signed-in request was refused: %d %s", w.Code, w.Body)
	}
	if got := seen.Header.Get("Remote-User"); got != "friend" {
		t.Fatalf("Remote-User = %q, want friend", got)
	}
	if got, ok := seen.Header["Remote-Groups"]; ok {
		t.Errorf("the upstream got the client's Remote-Groups %q", got)
	}
}

func TestSessionPastItsExpiryIsRefused(t *testing.T) {
	// The handler's own TTL (a day) would still allow it: only the
	// session's expiry, an hour ago, refuses it.
	h := sessionHandler(t, 24*time.Hour)
	now := time.Now()
	cookie := storeSession(t, h, testSession(now.Add(-2*time.Hour), now.Add(-time.Hour)))
	w, seen := serveWithCookie(t, h, cookie, nil)
	if seen != nil || w.Code != http.StatusUnauthorized {
		t.Fatalf("an expired session got %d (next called: %v)", w.Code, seen != nil)
	}
}

func TestStricterBlockSessionTTLIsEnforced(t *testing.T) {
	// Signed in two hours ago through a block with the default week; this
	// block keeps sessions one hour.
	now := time.Now()
	lax := sessionHandler(t, defaultSessionTTL)
	s := testSession(now.Add(-2*time.Hour), now.Add(defaultSessionTTL-2*time.Hour))
	cookie := storeSession(t, lax, s)
	if _, seen := serveWithCookie(t, lax, cookie, nil); seen == nil {
		t.Fatal("the block that issued the session refused it: the test would prove nothing")
	}

	strict := sessionHandler(t, time.Hour)
	strict.sessionSealer, strict.sessions = lax.sessionSealer, lax.sessions
	w, seen := serveWithCookie(t, strict, cookie, nil)
	if seen != nil || w.Code != http.StatusUnauthorized {
		t.Fatalf("a session older than session_ttl 1h got %d (next called: %v)", w.Code, seen != nil)
	}
}

func TestHomeMemberIsAdmittedAsHome(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		allow_tier home
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "homie", "/library")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/library", "Remote-Groups", "owner")
	expectStatus(t, resp, http.StatusOK, body)
	if got := e.up.last().Header.Values("Remote-Groups"); len(got) != 1 || got[0] != "home" {
		t.Errorf("Remote-Groups = %q, want [home]", got)
	}
	// And a friend is not mistaken for a home member.
	resp, body = e.signIn(newBrowser(t), "friend", "/library")
	expectStatus(t, resp, http.StatusForbidden, body)
}

// secretSite is basicSite with a known secret, so a test can seal cookies
// the way the module does.
const testSecret = "security-test-secret-0123456789"

var secretSite = strings.Replace(basicSite, "{PLEX}", "{PLEX}\n\t\tsecret "+testSecret, 1)

func TestExpiredStateCookieIsRefused(t *testing.T) {
	e := newEnv(t, secretSite)
	b := newBrowser(t)
	code := e.start(b, "/library")
	if err := e.plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	// A copy of the state cookie kept past its expiry (a browser drops it
	// at Max-Age; a saved copy does not): the same sealed content, its
	// sealed expiry a minute ago.
	secrets, err := configuredSecrets([]string{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := newSealer("state", secrets)
	if err != nil {
		t.Fatal(err)
	}
	const name = defaultCookieName + "_state"
	live := stateCookie(b)
	payload, err := sl.Open(name, live.Value, time.Now(), nil)
	if err != nil {
		t.Fatalf("the test's sealer cannot open the module's state cookie: %v", err)
	}
	old := sl.Seal(name, payload, time.Now().Add(-time.Minute))

	checks := e.plex.Count(http.MethodGet, "/api/v2/pins/*")
	thief := newBrowser(t)
	resp, body := thief.get("/_plexauth/callback", "Cookie", name+"="+old)
	expectStatus(t, resp, http.StatusBadRequest, body)
	if thief.cookie(defaultCookieName) != nil {
		t.Fatal("an expired state cookie got a session")
	}
	resp, body = thief.get("/_plexauth/poll", "Cookie", name+"="+old, "Accept", "application/json")
	expectStatus(t, resp, http.StatusBadRequest, body)
	if n := e.plex.Count(http.MethodGet, "/api/v2/pins/*"); n != checks {
		t.Errorf("plex.tv was asked about the pin of an expired state cookie (%d checks)", n-checks)
	}
	// The live cookie, in its own browser, still works.
	resp, body = b.get("/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
}

func TestReturnURLInStateCookieIsCheckedAgain(t *testing.T) {
	// rd is checked at start; the sign-in ends after a reload that no
	// longer allows the host it names.
	withDomains := strings.Replace(basicSite, "{PLEX}", "{PLEX}\n\t\tredirect_domains wiki.example", 1)
	e := newEnv(t, withDomains)
	const rd = "http://wiki.example/page"
	tab := newBrowser(t)
	tabCode := e.start(tab, rd)
	popup := newBrowser(t)
	popupCode := startPopup(t, e, popup, rd)

	e.load(basicSite)
	for _, c := range []string{tabCode, popupCode} {
		if err := e.plex.Approve(c, "friend"); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := tab.get("/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
	if got := resp.Header.Get("Location"); got != "/" {
		t.Errorf("callback sent the browser to %q, want / (wiki.example is no longer allowed)", got)
	}
	if _, a := pollJSON(t, popup); a.Status != "ok" || a.Redirect != "/" {
		t.Errorf("poll answered %+v, want ok with redirect /", a)
	}
}

var cspNonce = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`)

func TestCSPNonceIsFreshOnEveryResponse(t *testing.T) {
	h := pageHandler(t, nil)
	for _, name := range pages.Names {
		seen := map[string]bool{}
		for range 3 {
			w := renderPage(t, h, name, pageData{RD: "/", StartURL: "/_plexauth/start", LoginURL: "/_plexauth/login"})
			m := cspNonce.FindStringSubmatch(w.Header().Get("Content-Security-Policy"))
			if m == nil {
				t.Fatalf("%s: no nonce in %q", name, w.Header().Get("Content-Security-Policy"))
			}
			if seen[m[1]] {
				t.Fatalf("%s: nonce %q served twice: a nonce an attacker can learn admits their script", name, m[1])
			}
			seen[m[1]] = true
			if !strings.Contains(w.Body.String(), `nonce="`+m[1]+`"`) {
				t.Errorf("%s: the page does not carry its own response's nonce", name)
			}
		}
	}
}

func TestPagesSendNoReferrer(t *testing.T) {
	// The pages' URLs carry the return URL, and a Plex sign-in page's the
	// pin code: neither may leak to wherever a link goes.
	h := pageHandler(t, nil)
	for _, name := range pages.Names {
		w := renderPage(t, h, name, pageData{RD: "/", StartURL: "/_plexauth/start", LoginURL: "/_plexauth/login"})
		if got := w.Header().Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q, want no-referrer", name, got)
		}
	}
}

// tlsSite is basicSite served over HTTPS by Caddy's internal issuer.
func tlsSite() string {
	return strings.Replace(basicSite, "http://localhost:SITEPORT {", fmt.Sprintf("https://localhost:%d {\n\ttls internal", httpsPort), 1)
}

// trustCaddy makes b trust the internal issuer's root in e's storage,
// waiting until the site answers over TLS.
func trustCaddy(t *testing.T, e *env, b *browser, site string) {
	t.Helper()
	root := filepath.Join(e.storage, "pki", "authorities", "local", "root.crt")
	tr := &http.Transport{}
	trackTransport(t, tr)
	b.c.Transport = tr
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if pem, rerr := os.ReadFile(root); rerr != nil {
			err = rerr
		} else {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
			var resp *http.Response
			if resp, err = b.c.Get(site + "/_plexauth/login"); err == nil {
				resp.Body.Close()
				return
			}
			tr.CloseIdleConnections()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the site never answered over TLS: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectSecureCookies checks every cookie resp sets is Secure, and returns
// them by name, "-" suffixed for a cookie being cleared.
func expectSecureCookies(t *testing.T, step string, resp *http.Response) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, c := range resp.Cookies() {
		if !c.Secure {
			t.Errorf("%s: cookie %s set without Secure over HTTPS: %s", step, c.Name, c)
		}
		name := c.Name
		if c.MaxAge < 0 {
			name += "-"
		}
		out[name] = true
	}
	return out
}

func TestCookiesAreSecureOverTLS(t *testing.T) {
	e := newEnv(t, tlsSite())
	site := fmt.Sprintf("https://localhost:%d", httpsPort)
	const session, state = defaultCookieName, defaultCookieName + "_state"
	expect := func(step string, got map[string]bool, want ...string) {
		t.Helper()
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: expected cookie %q among %v", step, w, got)
			}
		}
	}

	t.Run("same tab", func(t *testing.T) {
		b := newBrowser(t)
		trustCaddy(t, e, b, site)
		resp, body := b.do(http.MethodPost, site+"/_plexauth/start", url.Values{"rd": {"/library"}})
		expectStatus(t, resp, http.StatusSeeOther, body)
		expect("start", expectSecureCookies(t, "start", resp), state)
		loc := resp.Header.Get("Location")
		frag, err := url.ParseQuery(strings.TrimPrefix(loc, e.plex.AppURL()+"#?"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := frag.Get("forwardUrl"), site+"/_plexauth/callback"; got != want {
			t.Errorf("forwardUrl = %q, want %q", got, want)
		}
		if err := e.plex.Approve(frag.Get("code"), "friend"); err != nil {
			t.Fatal(err)
		}
		resp, body = b.get(site + "/_plexauth/callback")
		expectStatus(t, resp, http.StatusFound, body)
		expect("callback", expectSecureCookies(t, "callback", resp), session, state+"-")

		resp, body = b.get(site + "/library")
		expectStatus(t, resp, http.StatusOK, body)
		if got := e.up.last().Header.Get("Remote-User"); got != "friend" {
			t.Errorf("upstream Remote-User = %q", got)
		}
		resp, body = b.do(http.MethodPost, site+"/_plexauth/logout", url.Values{})
		expectStatus(t, resp, http.StatusSeeOther, body)
		expect("logout", expectSecureCookies(t, "logout", resp), session+"-")
	})

	t.Run("popup", func(t *testing.T) {
		b := newBrowser(t)
		trustCaddy(t, e, b, site)
		resp, body := b.do(http.MethodPost, site+"/_plexauth/start", url.Values{"rd": {"/library"}, "popup": {"1"}}, "Accept", "application/json")
		expectStatus(t, resp, http.StatusOK, body)
		expect("start", expectSecureCookies(t, "start", resp), state)
		var a flowAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
		frag, _ := url.ParseQuery(strings.TrimPrefix(a.URL, e.plex.AppURL()+"#?"))
		if err := e.plex.Approve(frag.Get("code"), "friend"); err != nil {
			t.Fatal(err)
		}
		resp, body = b.get(site+"/_plexauth/poll", "Accept", "application/json")
		expectStatus(t, resp, http.StatusOK, body)
		expect("poll", expectSecureCookies(t, "poll", resp), session, state+"-")
	})

	t.Run("refused and expired sign-ins", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			settle func(code string)
			status int
		}{
			{"denied", func(code string) { _ = e.plex.Approve(code, "stranger") }, http.StatusForbidden},
			{"expired", func(string) { e.plex.ExpirePins() }, http.StatusGone},
		} {
			b := newBrowser(t)
			trustCaddy(t, e, b, site)
			resp, body := b.do(http.MethodPost, site+"/_plexauth/start", url.Values{"rd": {"/"}})
			expectStatus(t, resp, http.StatusSeeOther, body)
			frag, _ := url.ParseQuery(strings.TrimPrefix(resp.Header.Get("Location"), e.plex.AppURL()+"#?"))
			c.settle(frag.Get("code"))
			resp, body = b.get(site + "/_plexauth/callback")
			expectStatus(t, resp, c.status, body)
			expect(c.name, expectSecureCookies(t, c.name, resp), state+"-")
		}
	})
}
