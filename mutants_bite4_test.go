package plexauth

// Tests for survivors of scripts/mutants.sh over limits_http.go and
// pinflow.go: each fails with the line it names changed as the run
// changed it.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/ownerlist"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// limits_http.go:54 and :66-67: blocks that share a plex.tv and a client
// identifier share the limits (plex.tv counts by client identifier);
// another identifier or another plex.tv has its own; the last block to
// go releases them, so the next config's budgets start afresh rather than
// pile up in the pool.
func TestLimitsAreSharedPerPlexTVAndClientIDAndReleasedByTheLastBlock(t *testing.T) {
	id := "mutants-bite4-" + t.Name()
	provision := func(plexTV, clientID string) *PlexAuth {
		h := &PlexAuth{PlexTVURL: plexTV, ClientID: clientID}
		if err := h.provisionLimits(); err != nil {
			t.Fatal(err)
		}
		return h
	}
	a := provision("https://plex.tv", id)
	a2 := provision("https://plex.tv", id)
	other := provision("https://plex.tv", id+"-other")
	elsewhere := provision("https://plex.example", id)
	if a.limits != a2.limits {
		t.Error("two blocks with one client identifier at one plex.tv have separate limits")
	}
	if other.limits == a.limits {
		t.Error("another client identifier shares the limits")
	}
	if elsewhere.limits == a.limits {
		t.Error("another plex.tv shares the limits")
	}
	key := limitsKey("https://plex.tv", id)
	if n, _ := limitsPool.References(key); n != 2 {
		t.Errorf("the pool holds the shared limits %d times, want 2", n)
	}
	first := a.limits
	a.cleanupLimits()
	if n, _ := limitsPool.References(key); n != 1 {
		t.Errorf("after one block's cleanup the pool holds the limits %d times, want 1", n)
	}
	a2.cleanupLimits()
	other.cleanupLimits()
	elsewhere.cleanupLimits()
	for _, k := range []string{key, limitsKey("https://plex.tv", id+"-other"), limitsKey("https://plex.example", id)} {
		if n, ok := limitsPool.References(k); ok || n != 0 {
			t.Errorf("%s still in the pool (%d) after every block's cleanup", k, n)
		}
	}
	again := provision("https://plex.tv", id)
	defer again.cleanupLimits()
	if again.limits == first {
		t.Error("limits released by every block came back from the pool")
	}
}

// limits_http.go:43: when the limits go (the last block using them is
// cleaned up), the refusals noted since the last summary are summed up
// then, not dropped or left to a timer writing into a stopped config's log.
func TestDestructSumsUpTheRefusalsLeft(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	rep := refusalLogger{zap.New(core)}
	l := newSigninLimits(time.Now())
	client := netip.MustParseAddr("192.0.2.7")
	r := &signin.Refusal{Call: signin.CreatePin, Wait: time.Second}
	l.refusals.Note(rep, r, client) // the first: at once
	l.refusals.Note(rep, r, client) // summed up
	l.refusals.Note(rep, &signin.Refusal{Call: signin.CheckPin, Wait: time.Second}, client)
	if logs.Len() != 1 {
		t.Fatalf("%d lines before Destruct, want the first refusal's alone", logs.Len())
	}
	if err := l.Destruct(); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 2 {
		t.Fatalf("%d lines after Destruct, want the first refusal and a summary", logs.Len())
	}
	sum := logs.All()[1]
	if !strings.Contains(sum.Message, "refused by local rate limits") || sum.ContextMap()["refused"] != int64(2) ||
		sum.ContextMap()["pin_creations"] != int64(1) || sum.ContextMap()["pin_checks"] != int64(1) {
		t.Errorf("summary at Destruct = %q %v", sum.Message, sum.ContextMap())
	}
}

// limits_http.go:201-202: a client the limits could not place (no
// parseable address) is logged with an empty client_ip, not Go's
// "invalid IP" as if it were one.
func TestRefusalOfAClientWithoutAnAddressLogsNoAddress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := refusalLogger{zap.New(core)}
	l.Refused(&signin.Refusal{Call: signin.CreatePin, Wait: time.Second}, netip.Addr{})
	l.Summary(signin.Summary{Creates: 1})
	for _, e := range logs.All() {
		for _, k := range []string{"client_ip", "last_client_ip"} {
			if v, ok := e.ContextMap()[k]; ok && v != "" {
				t.Errorf("%q: %s = %q, want \"\"", e.Message, k, v)
			}
		}
	}
	if logs.Len() != 2 {
		t.Fatalf("%d lines, want 2", logs.Len())
	}
}

// limits_http.go:97-98 and :135-137: a pin creation or a pin check the
// limits refuse is counted as rate_limited and logged as a local limit
// (the first of a spell at once), and plex.tv is not asked (the handler
// here has no plex.tv client at all).
func TestLocalRefusalsAtStartAndCheckAreCountedAndLogged(t *testing.T) {
	refused := func(t *testing.T, call func(h *PlexAuth, r *http.Request, client netip.Addr) error, spend func(l *signinLimits, client netip.Addr) *signin.Refusal, during string) {
		t.Helper()
		core, logs := observer.New(zap.InfoLevel)
		h := &PlexAuth{logger: zap.New(core), limits: newSigninLimits(time.Now())}
		r := httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil)
		r.RemoteAddr = "192.0.2.50:4000"
		client := clientKey(r)
		for i := 0; spend(h.limits, client) == nil; i++ {
			if i == 1000 {
				t.Fatal("the budget never ran out")
			}
		}
		before := signInCounts(t)[signInRateLimited]
		err := call(h, r, client)
		if asRefusal(err) == nil {
			t.Fatalf("%s over the budget: %v, want a refusal", during, err)
		}
		if got := signInCounts(t)[signInRateLimited] - before; got != 1 {
			t.Errorf("%s refused: rate_limited moved by %v, want 1", during, got)
		}
		if logs.Len() != 1 {
			t.Fatalf("%s refused: %d log lines, want 1", during, logs.Len())
		}
		if e := logs.All()[0]; !strings.Contains(e.Message, "local rate limit") || e.ContextMap()["during"] != during ||
			e.ContextMap()["client_ip"] != "192.0.2.50" {
			t.Errorf("%s refused: log %q %v", during, e.Message, e.ContextMap())
		}
	}
	refused(t, func(h *PlexAuth, r *http.Request, _ netip.Addr) error {
		pin, _, err := h.createPin(r, signin.PinRef{})
		if pin != nil {
			t.Error("a refused creation returned a pin")
		}
		return err
	}, func(l *signinLimits, client netip.Addr) *signin.Refusal {
		return l.AllowCreate(client, signin.PinRef{}, time.Now())
	}, "creating pin")
	refused(t, func(h *PlexAuth, r *http.Request, _ netip.Addr) error {
		_, err := h.checkPin(r, 42)
		return err
	}, func(l *signinLimits, client netip.Addr) *signin.Refusal {
		return l.AllowCheck(client, time.Now())
	}, "checking pin")
}

// limits_http.go:145-148: the page for a refused sign-in is a 429 whose
// title says why, with Retry-After in whole seconds.
func TestLimitedPageIsTitledTooManySignInAttempts(t *testing.T) {
	h := pageHandler(t, nil)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil)
	h.tooMany(w, r, &signin.Refusal{Call: signin.CreatePin, Wait: 2500 * time.Millisecond}, pageData{LoginURL: "/_plexauth/login"})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != strconv.Itoa(3) {
		t.Errorf("status %d, Retry-After %q; want 429 and 3", w.Code, w.Header().Get("Retry-After"))
	}
	body := w.Body.String()
	if !strings.Contains(body, "<title>Too many sign-in attempts · Media Tools</title>") {
		t.Errorf("the page's title does not say why: %.400s", body)
	}
	if !strings.Contains(body, "try again in 3 seconds.") {
		t.Errorf("the page does not say how long to wait as Retry-After does: %.1500s", body)
	}
}

// limits_http.go:101-108: the limits learn each pin created, so that the
// browser's next start, replacing it, ends it: a copy of the first state
// cookie is then answered without asking plex.tv.
func TestAStartReplacingTheBrowsersPinEndsIt(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	h := startHandler(t, plex)
	first := postStart(t, h, "1")
	var st *http.Cookie
	for _, c := range first.Result().Cookies() {
		if c.Name == h.stateCookie {
			st = c
		}
	}
	if st == nil {
		t.Fatal("start set no state cookie")
	}
	raw, err := h.stateSealer.Open(h.stateCookie, st.Value, time.Now(), nil)
	var ls loginState
	if err != nil || json.Unmarshal(raw, &ls) != nil {
		t.Fatalf("state cookie: %v", err)
	}
	if _, ended := h.limits.EndedAs(ls.PinID, time.Now()); ended {
		t.Fatal("a pin just created has ended")
	}
	if w := postStart(t, h, "1", "Cookie", st.Name+"="+st.Value); w.Code != http.StatusOK {
		t.Fatalf("the second start: %d %q", w.Code, w.Body)
	}
	if how, ended := h.limits.EndedAs(ls.PinID, time.Now()); !ended || how != signin.Expired {
		t.Errorf("the replaced pin: ended %v as %v, want ended as expired", ended, how)
	}
}

// endpoint sends method path through h's endpoint routing and returns the
// answer.
func endpoint(t *testing.T, h *PlexAuth, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.serveEndpoint(w, httptest.NewRequest(method, path, nil)); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return w
}

// pinflow.go:56-78: the endpoints under the prefix answer by name and
// method: an unknown name is a 404 (also an OIDC path on a block that is
// no OIDC provider), a known one with another method a 405 naming the
// methods it takes, and nothing else runs then; with owner_token, a
// sign-in endpoint waits for the owner's list (503) while the others
// are served.
func TestEndpointsAnswerByNameAndMethodAndWaitForTheOwnersList(t *testing.T) {
	h := pageHandler(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
		allow, body  string
	}{
		{http.MethodGet, "/_plexauth/nope", http.StatusNotFound, "", "not found\n"},
		{http.MethodGet, "/_plexauth/.well-known/openid-configuration", http.StatusNotFound, "", "not found\n"},
		{http.MethodGet, "/_plexauth/token", http.StatusNotFound, "", "not found\n"},
		{http.MethodDelete, "/_plexauth/login", http.StatusMethodNotAllowed, "GET, HEAD", "method not allowed\n"},
		{http.MethodPost, "/_plexauth/poll", http.StatusMethodNotAllowed, "GET", "method not allowed\n"},
		{http.MethodPut, "/_plexauth/logout", http.StatusMethodNotAllowed, "GET, POST", "method not allowed\n"},
	} {
		w := endpoint(t, h, c.method, c.path)
		if w.Code != c.status || w.Header().Get("Allow") != c.allow || w.Body.String() != c.body {
			t.Errorf("%s %s: %d Allow %q %q; want %d Allow %q %q", c.method, c.path, w.Code, w.Header().Get("Allow"), w.Body, c.status, c.allow, c.body)
		}
	}
	if w := endpoint(t, h, http.MethodGet, "/_plexauth/login.js"); w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Errorf("GET login.js: %d %q", w.Code, w.Header().Get("Content-Type"))
	}

	h.owner = ownerlist.Fixed(access.OwnerView{Problem: access.OwnerNotOwned})
	if w := endpoint(t, h, http.MethodGet, "/_plexauth/login"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("owner's list undecided: GET login answered %d, want 503", w.Code)
	}
	w := endpoint(t, h, http.MethodDelete, "/_plexauth/login")
	if w.Code != http.StatusMethodNotAllowed || w.Body.String() != "method not allowed\n" {
		t.Errorf("owner's list undecided: DELETE login answered %d %q, want the 405 alone", w.Code, w.Body)
	}
	if w := endpoint(t, h, http.MethodGet, "/_plexauth/login.js"); w.Code != http.StatusOK {
		t.Errorf("owner's list undecided: GET login.js answered %d, want 200", w.Code)
	}
}

// pinflow.go:357-388: a failed sign-in step answers by its cause: the
// session store down is a 503 with Retry-After 5 and a page saying so,
// logged by the store and not per sign-in; plex.tv asking to slow down
// (429) or down for maintenance (503) is a 503 passing on its
// Retry-After in whole seconds, rounded up; any other failure a 502. A
// plex.tv failure is logged with the step and the problem. "Try again"
// keeps where the user was going.
func TestFailedSignInStepAnswersByItsCause(t *testing.T) {
	for _, c := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		heading    string
		logged     bool
	}{
		{"store down", &storeError{errors.New("redis: connection refused")}, http.StatusServiceUnavailable, "5", "Sign-in is unavailable", false},
		{"plex.tv 429 with Retry-After", &plextv.Unavailable{Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond}, http.StatusServiceUnavailable, "2", "Plex is having trouble", true},
		{"plex.tv 503 with Retry-After", &plextv.Unavailable{Status: http.StatusServiceUnavailable, RetryAfter: 3 * time.Second}, http.StatusServiceUnavailable, "3", "Plex is having trouble", true},
		{"plex.tv 503 without Retry-After", &plextv.Unavailable{Status: http.StatusServiceUnavailable}, http.StatusServiceUnavailable, "", "Plex is having trouble", true},
		{"plex.tv 500 with Retry-After", &plextv.Unavailable{Status: http.StatusInternalServerError, RetryAfter: 5 * time.Second}, http.StatusBadGateway, "", "Plex is having trouble", true},
		{"no answer", &plextv.Unavailable{Err: errors.New("connection reset")}, http.StatusBadGateway, "", "Plex is having trouble", true},
		{"another error", errors.New("boom"), http.StatusBadGateway, "", "Plex is having trouble", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// One page, and only one.
			core, logs := observer.New(zap.InfoLevel)
			h := pageHandler(t, nil)
			h.logger = zap.New(core)
			w := httptest.NewRecorder()
			h.plexFailed(w, httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil), "creating pin", c.err, "/deep?x=1")
			if w.Code != c.status || w.Header().Get("Retry-After") != c.retryAfter {
				t.Errorf("%d Retry-After %q, want %d %q", w.Code, w.Header().Get("Retry-After"), c.status, c.retryAfter)
			}
			body := w.Body.String()
			if !strings.Contains(body, "<h1>"+c.heading+"</h1>") || !strings.Contains(body, `href="/_plexauth/login?rd=%2Fdeep%3Fx%3D1"`) || strings.Count(body, "</html>") != 1 {
				t.Errorf("page does not say %q with a way back to /deep?x=1: %.1500s", c.heading, body)
			}
			switch {
			case !c.logged && logs.Len() != 0:
				t.Errorf("logged per sign-in: %q", logs.All()[0].Message)
			case c.logged && logs.Len() != 1:
				t.Errorf("%d log lines, want 1", logs.Len())
			case c.logged:
				l := logs.All()[0]
				if l.Message != "plex.tv call failed" || l.Level != zap.WarnLevel || l.ContextMap()["during"] != "creating pin" || l.ContextMap()["problem"] != plextv.Problem(c.err) {
					t.Errorf("log line %s %q %v", l.Level, l.Message, l.ContextMap())
				}
			}
		})
	}
}

// pinflow.go:126, 160-175, 235, 252-261, 327, 347-351: no answer of the
// sign-in flow may be kept by a cache (a kept redirect to Plex would send
// the next visitor to the same pin; a kept callback or sign-out would
// replay it), and its cookies are for this site's pages only: the state
// cookie under the prefix, living as long as the pin; the session cookie
// for the session_ttl; the sign-out's cookie expired; all HttpOnly and
// SameSite=Lax. The sign-out is in the audit trail.
func TestSignInAnswersAreNotCachedAndTheirCookiesAreScoped(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	e := newEnvGlobal(t, "log {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t}", basicSite)
	b := newBrowser(t)
	noStore := func(step string, resp *http.Response, status int, body string) {
		t.Helper()
		expectStatus(t, resp, status, body)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", step, cc)
		}
	}
	scoped := func(step string, c *http.Cookie, path string, minAge, maxAge int) {
		t.Helper()
		switch {
		case c == nil:
			t.Fatalf("%s: no cookie set", step)
		case c.Path != path || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode:
			t.Errorf("%s: cookie Path %q HttpOnly %v SameSite %v, want %q, true, Lax", step, c.Path, c.HttpOnly, c.SameSite, path)
		case c.MaxAge < minAge || c.MaxAge > maxAge:
			t.Errorf("%s: cookie Max-Age %d, want %d to %d", step, c.MaxAge, minAge, maxAge)
		}
	}

	resp, body := b.get("/_plexauth/start?rd=%2Fx")
	noStore("GET start", resp, http.StatusSeeOther, body)

	resp, body = b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/x"}})
	noStore("POST start", resp, http.StatusSeeOther, body)
	scoped("POST start", setCookie(resp, "plex_auth_session_state"), "/_plexauth/", 60, int(maxStateTTL/time.Second))
	frag, _ := url.ParseQuery(strings.TrimPrefix(resp.Header.Get("Location"), e.plex.AppURL()+"#?"))
	if err := e.plex.Approve(frag.Get("code"), "friend"); err != nil {
		t.Fatal(err)
	}

	resp, body = b.get("/_plexauth/callback")
	noStore("callback", resp, http.StatusFound, body)
	ttl := int(defaultSessionTTL / time.Second)
	scoped("callback", setCookie(resp, "plex_auth_session"), "/", ttl-1, ttl)

	resp, body = b.do(http.MethodPost, "/_plexauth/logout", url.Values{"rd": {"/x"}})
	noStore("logout", resp, http.StatusSeeOther, body)
	scoped("logout", setCookie(resp, "plex_auth_session"), "/", -1, -1)
	signedOut := 0
	for _, l := range logLines(t, logPath) {
		if l["logger"] == "http.handlers.plex_auth.audit" && l["msg"] == "signed out" {
			signedOut++
			if l["username"] != "friend" {
				t.Errorf("audit line for the sign-out names %v, want friend: %v", l["username"], l)
			}
		}
	}
	if signedOut != 1 {
		t.Errorf("%d audit lines for the sign-out, want 1", signedOut)
	}
}

// flowHandler is a handler with what the sign-in endpoints need short of
// plex.tv: sealing, an in-memory session cache and the pages.
func flowHandler(t *testing.T) *PlexAuth {
	t.Helper()
	h := sessionHandler(t, time.Hour)
	p := pageHandler(t, nil)
	h.Product, h.pages, h.appOrigin = p.Product, p.pages, p.appOrigin
	var err error
	if h.stateSealer, err = newSealer("state", [][]byte{make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	h.stateCookie = h.CookieName + "_state"
	return h
}

// pinflow.go:84-95, 121-123, 289-291: parameters that cannot be parsed
// (a bad escape, a body over 64 KiB) get a clean 400 and nothing else:
// no login page, no pin, no sign-out (the session the browser presents
// stays).
func TestUnparseableParametersGet400AndNothingElse(t *testing.T) {
	h := flowHandler(t)
	now := time.Now()
	cookie := storeSession(t, h, testSession(now, now.Add(time.Hour)))
	big := "rd=%2F&pad=" + strings.Repeat("a", maxFormBody)
	for _, c := range []struct {
		method, path, body string
	}{
		{http.MethodGet, "/_plexauth/login?rd=%zz", ""},
		{http.MethodGet, "/_plexauth/start?rd=%zz", ""},
		{http.MethodPost, "/_plexauth/start", big},
		{http.MethodGet, "/_plexauth/logout?rd=%zz", ""},
		{http.MethodPost, "/_plexauth/logout", big},
	} {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		if c.body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r.Header.Set("Cookie", h.CookieName+"="+cookie)
		w := newOnceRecorder()
		if err := h.serveEndpoint(w, r); err != nil {
			t.Fatal(err)
		}
		if w.statuses != 1 {
			t.Errorf("%s %s (%d bytes): %d status lines written, want the 400 alone", c.method, c.path, len(c.body), w.statuses)
		}
		if w.Code != http.StatusBadRequest || w.Body.String() != "malformed request parameters\n" || len(w.Result().Cookies()) != 0 {
			t.Errorf("%s %s (%d bytes): %d %q, cookies %v; want the 400 alone", c.method, c.path, len(c.body), w.Code, w.Body.String(), w.Result().Cookies())
		}
		if id := h.sealedSessionID(cookie, time.Now()); id == "" {
			t.Fatal("the session cookie names no session")
		} else if s, _ := h.sessions.Lookup(id, time.Now(), h.cacheTTL); s == nil {
			t.Fatalf("%s %s (%d bytes) ended the session", c.method, c.path, len(c.body))
		}
	}
}

// pinflow.go:92-110: the login page sends a browser this block admits on
// to where it was going; anyone else gets the page, which says "signed
// out" only after a sign-out.
func TestLoginPageSendsAnAdmittedBrowserOnAndSaysSignedOutOnlyAfterSigningOut(t *testing.T) {
	h := flowHandler(t)
	now := time.Now()
	cookie := storeSession(t, h, testSession(now, now.Add(time.Hour)))
	login := func(h *PlexAuth, target, cookie string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, target, nil)
		if cookie != "" {
			r.Header.Set("Cookie", h.CookieName+"="+cookie)
		}
		w := httptest.NewRecorder()
		if err := h.serveEndpoint(w, r); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := login(h, "/_plexauth/login?rd=%2Fdeep%3Fx%3D1", cookie)
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/deep?x=1" || strings.Contains(w.Body.String(), "<form") {
		t.Errorf("admitted browser at the login page: %d Location %q %.300s; want 302 to /deep?x=1 alone", w.Code, w.Header().Get("Location"), w.Body)
	}

	stricter := flowHandler(t)
	stricter.AllowAnyPlexUser, stricter.Servers = false, []string{machineID}
	stricter.sessions, stricter.sessionSealer = h.sessions, h.sessionSealer
	for _, c := range []struct {
		name           string
		h              *PlexAuth
		target, cookie string
		signedOut      bool
	}{
		{"no session", h, "/_plexauth/login?rd=%2Fdeep", "", false},
		{"not admitted here", stricter, "/_plexauth/login?rd=%2Fdeep", cookie, false},
		{"after a sign-out", h, "/_plexauth/login?signed_out=1&rd=%2Fdeep", "", true},
	} {
		w := login(c.h, c.target, c.cookie)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, `action="/_plexauth/start"`) || !strings.Contains(body, `value="/deep"`) {
			t.Errorf("%s: %d, want the login page posting to start with rd /deep: %.1500s", c.name, w.Code, body)
		}
		if got := strings.Contains(body, "You are signed out."); got != c.signedOut {
			t.Errorf("%s: the page says signed out: %v, want %v", c.name, got, c.signedOut)
		}
	}
}

// startHandler is flowHandler with sign-in limits and a plex.tv client for
// the fake plex.tv.
func startHandler(t *testing.T, plex *plextest.Server) *PlexAuth {
	t.Helper()
	h := flowHandler(t)
	h.ClientID, h.PlexAppURL = "mutants-bite4-client", plex.AppURL()
	h.limits = newSigninLimits(time.Now())
	h.plex = newPlexClient(plex.URL, h.Product, h.ClientID, 5*time.Second)
	return h
}

// onceRecorder is a ResponseRecorder that counts the status lines written:
// an answer written twice shows only its first in a recorder (and as
// "superfluous WriteHeader" in a server's log).
type onceRecorder struct {
	*httptest.ResponseRecorder
	statuses int
}

func newOnceRecorder() *onceRecorder { return &onceRecorder{ResponseRecorder: httptest.NewRecorder()} }

func (o *onceRecorder) WriteHeader(code int) {
	o.statuses++
	o.ResponseRecorder.WriteHeader(code)
}

// postStart posts to h's start endpoint as the login page (popup "1":
// its script) does, with the given extra headers.
func postStart(t *testing.T, h *PlexAuth, popup string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://example.com/_plexauth/start", strings.NewReader(url.Values{"rd": {"/deep"}, "popup": {popup}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := newOnceRecorder()
	if err := h.serveEndpoint(w, r); err != nil {
		t.Fatal(err)
	}
	if w.statuses != 1 {
		t.Errorf("popup=%s: %d status lines written, want 1", popup, w.statuses)
	}
	return w.ResponseRecorder
}

// pinflow.go:130-181: a start answers each way once and sets the state
// cookie only for a pin it got: another site's post is a 403 and asks
// plex.tv nothing; plex.tv failing is its error page (the script: one JSON
// error) and counts as a failed sign-in; a pin is a 303 to Plex coming
// back to the callback (the script: the popup's URL, which has no way
// back: Plex closes the popup).
func TestStartAnswersOnceEachWayAndSetsStateOnlyForAPin(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	h := startHandler(t, plex)
	state := func(w *httptest.ResponseRecorder) *http.Cookie {
		for _, c := range w.Result().Cookies() {
			if c.Name == h.stateCookie {
				return c
			}
		}
		return nil
	}

	for _, popup := range []string{"0", "1"} {
		w := postStart(t, h, popup, "Sec-Fetch-Site", "cross-site")
		if w.Code != http.StatusForbidden || w.Body.String() != "sign-in starts from this site's login page\n" || state(w) != nil {
			t.Errorf("popup=%s cross-site: %d %q", popup, w.Code, w.Body)
		}
	}
	if n := plex.Count(http.MethodPost, "/api/v2/pins"); n != 0 {
		t.Errorf("cross-site starts created %d pins", n)
	}

	plex.SetStatus(http.StatusServiceUnavailable, 0)
	for _, popup := range []string{"0", "1"} {
		before := signInCounts(t)[signInError]
		w := postStart(t, h, popup)
		if w.Code != http.StatusServiceUnavailable || state(w) != nil {
			t.Errorf("popup=%s, plex.tv down: %d, state cookie %v; want 503 and none", popup, w.Code, state(w))
		}
		if got := signInCounts(t)[signInError] - before; got != 1 {
			t.Errorf("popup=%s, plex.tv down: error moved by %v, want 1", popup, got)
		}
		if popup == "1" {
			var a flowJSON
			if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || a.Status != "error" {
				t.Errorf("popup=1, plex.tv down: %q is not one JSON error (%v)", w.Body, err)
			}
		} else if !strings.Contains(w.Body.String(), "<h1>Plex is having trouble</h1>") || strings.Count(w.Body.String(), "</html>") != 1 {
			t.Errorf("popup=0, plex.tv down: not one error page: %.600s", w.Body)
		}
	}
	plex.SetStatus(0, 0)

	w := postStart(t, h, "1")
	var a struct{ Status, URL string }
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != http.StatusOK || a.Status != "started" ||
		!strings.HasPrefix(a.URL, plex.AppURL()+"#?") || strings.Contains(a.URL, "forwardUrl") || state(w) == nil {
		t.Errorf("popup start: %d %q (%v), state cookie %v", w.Code, w.Body, err, state(w))
	}
	w = postStart(t, h, "0")
	loc := w.Header().Get("Location")
	frag, _ := url.ParseQuery(strings.TrimPrefix(loc, plex.AppURL()+"#?"))
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, plex.AppURL()+"#?") || frag.Get("forwardUrl") != "http://example.com/_plexauth/callback" || state(w) == nil {
		t.Errorf("start: %d Location %q, state cookie %v; want 303 to Plex, back to the callback", w.Code, loc, state(w))
	}
}

// pinflow.go:142-148: a start the limits refuse is a 429, for the script
// as JSON saying how long to wait, for a browser as the page leading back
// to the login page; plex.tv is not asked, and no state is set.
func TestRefusedStartIsA429EachWay(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	h := startHandler(t, plex)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	for i := 0; h.limits.AllowCreate(clientKey(r), signin.PinRef{}, time.Now()) == nil; i++ {
		if i == 1000 {
			t.Fatal("the budget never ran out")
		}
	}
	w := postStart(t, h, "1")
	var a flowJSON
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != http.StatusTooManyRequests || a.Status != "limited" || a.RetryAfter < 1 ||
		w.Header().Get("Retry-After") != strconv.Itoa(a.RetryAfter) || len(w.Result().Cookies()) != 0 {
		t.Errorf("popup start refused: %d %q (%v)", w.Code, w.Body, err)
	}
	w = postStart(t, h, "0")
	if body := w.Body.String(); w.Code != http.StatusTooManyRequests || !strings.Contains(body, "<title>Too many sign-in attempts") ||
		!strings.Contains(body, `href="/_plexauth/login?rd=%2Fdeep"`) || strings.Count(body, "</html>") != 1 || len(w.Result().Cookies()) != 0 {
		t.Errorf("start refused: %d %.800s", w.Code, body)
	}
	if n := plex.Count(http.MethodPost, "/api/v2/pins"); n != 0 {
		t.Errorf("refused starts created %d pins", n)
	}
}

// callback sends a GET to h's callback endpoint with the state cookie st
// (nil: none) and returns the answer, checking that it was written once.
func callback(t *testing.T, h *PlexAuth, st *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://example.com/_plexauth/callback", nil)
	if st != nil {
		r.AddCookie(st)
	}
	w := newOnceRecorder()
	if err := h.serveEndpoint(w, r); err != nil {
		t.Fatal(err)
	}
	if w.statuses != 1 {
		t.Errorf("callback: %d status lines written, want 1", w.statuses)
	}
	return w.ResponseRecorder
}

// pinflow.go:205-237: the callback answers each outcome with its page, and
// a page that can be tried again leads back to the login page keeping
// where the user was going: a state cookie whose code is not its pin's
// (forged with a stolen secret) is refused; plex.tv failing is its error
// page; a client over its check budget gets the limited page, which
// reloads itself when the wait is over.
func TestCallbackAnswersEachOutcomeWithItsPage(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	h := startHandler(t, plex)
	h.audit = zap.NewNop()
	newState := func() *http.Cookie {
		t.Helper()
		// Fresh limits: one client has at most signin.MaxInProgress
		// sign-ins in progress.
		h.limits = newSigninLimits(time.Now())
		for _, c := range postStart(t, h, "0").Result().Cookies() {
			if c.Name == h.stateCookie {
				return c
			}
		}
		t.Fatal("start set no state cookie")
		return nil
	}
	page := func(name string, w *httptest.ResponseRecorder, status int, title string, more ...string) {
		t.Helper()
		body := w.Body.String()
		if w.Code != status || !strings.Contains(body, "<title>"+title+" · Media Tools</title>") {
			t.Errorf("%s: %d, want %d titled %q: %.800s", name, w.Code, status, title, body)
		}
		for _, m := range more {
			if !strings.Contains(body, m) {
				t.Errorf("%s: the page lacks %q: %.1500s", name, m, body)
			}
		}
	}
	back := `href="/_plexauth/login?rd=%2Fdeep"`

	page("no state", callback(t, h, nil), http.StatusBadRequest, "Sign-in could not continue")

	st := newState()
	raw, err := h.stateSealer.Open(h.stateCookie, st.Value, time.Now(), nil)
	var ls loginState
	if err != nil || json.Unmarshal(raw, &ls) != nil {
		t.Fatalf("state cookie: %v", err)
	}
	forged, _ := json.Marshal(loginState{PinID: ls.PinID, Code: "not-the-code", RD: "/deep"})
	page("forged state", callback(t, h, &http.Cookie{Name: h.stateCookie, Value: h.stateSealer.Seal(h.stateCookie, forged, time.Now().Add(time.Minute))}),
		http.StatusBadRequest, "Sign-in could not continue")

	st = newState()
	page("pending", callback(t, h, st), http.StatusOK, "Waiting for Plex", back)

	st = newState()
	plex.SetStatus(http.StatusServiceUnavailable, 0)
	page("plex.tv down", callback(t, h, st), http.StatusServiceUnavailable, "Plex could not be reached", "<h1>Plex is having trouble</h1>", back)
	plex.SetStatus(0, 0)

	st = newState()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := 0; h.limits.AllowCheck(clientKey(r), time.Now()) == nil; i++ {
		if i == 1000 {
			t.Fatal("the check budget never ran out")
		}
	}
	w := callback(t, h, st)
	retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	page("over the check budget", w, http.StatusTooManyRequests, "Too many sign-in attempts", back,
		`http-equiv="refresh" content="`+strconv.Itoa(retry)+`"`)
	if retry < 1 {
		t.Errorf("over the check budget: Retry-After %q", w.Header().Get("Retry-After"))
	}
}

// pinflow.go:269-276: the warning that cookie_domain does not cover a host
// comes at the first sign-in on such a host, and then never again for
// the handler; a host under it, or a block without cookie_domain, is no
// reason to warn.
func TestCookieDomainWarningComesOnceAtTheFirstHostOutsideIt(t *testing.T) {
	warnings := func(domain string, hosts ...string) int {
		core, logs := observer.New(zap.InfoLevel)
		h := &PlexAuth{CookieDomain: domain, logger: zap.New(core)}
		for _, host := range hosts {
			h.warnCookieDomain(host)
		}
		return logs.FilterMessageSnippet("cookie_domain does not cover").Len()
	}
	for _, c := range []struct {
		domain string
		hosts  []string
		want   int
	}{
		{"", []string{"localhost:8080", "example.test"}, 0},
		{"example.test", []string{"a.example.test", "example.test:443"}, 0},
		{"example.test", []string{"localhost:8080"}, 1},
		{"example.test", []string{"localhost:8080", "other.test", "localhost:8080"}, 1},
		{"example.test", []string{"a.example.test", "localhost:8080", "other.test"}, 1},
	} {
		if got := warnings(c.domain, c.hosts...); got != c.want {
			t.Errorf("cookie_domain %q, sign-ins on %v: %d warnings, want %d", c.domain, c.hosts, got, c.want)
		}
	}
}

// unreadableStore is a session store whose Load fails while failLoads is
// set: a store that cannot be asked about a session.
type unreadableStore struct {
	session.Store
	failLoads atomic.Bool
}

func (s *unreadableStore) Load(ctx context.Context, key string) ([]byte, error) {
	if s.failLoads.Load() {
		return nil, errors.New("store unreachable")
	}
	return s.Store.Load(ctx, key)
}

// pinflow.go:307-313: a sign-out ends the session also when the store
// could not be asked whether it is still there (here: another instance,
// or this one before a restart, signed it in, and the store fails
// reads): the deletion goes to the store all the same, so the session
// does not come back once reads work again.
func TestSignOutEndsTheSessionWhenTheStoreCannotBeAskedAboutIt(t *testing.T) {
	st := &unreadableStore{Store: session.NewCaddyStore(&certmagic.FileStorage{Path: t.TempDir()})}
	withStore := func() *PlexAuth {
		h := flowHandler(t)
		h.sessions = newSessionCache(st, nil)
		t.Cleanup(func() { _ = h.sessions.Destruct() })
		return h
	}
	signedIn := withStore()
	now := time.Now()
	cookie := storeSession(t, signedIn, testSession(now, now.Add(time.Hour)))
	id := signedIn.sealedSessionID(cookie, now)
	if id == "" {
		t.Fatal("the cookie names no session")
	}

	other := withStore()
	st.failLoads.Store(true)
	r := httptest.NewRequest(http.MethodPost, "/_plexauth/logout", nil)
	r.Header.Set("Cookie", other.CookieName+"="+cookie)
	w := httptest.NewRecorder()
	if err := other.serveEndpoint(w, r); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d %q", w.Code, w.Body)
	}
	st.failLoads.Store(false)
	if s, err := withStore().sessions.Lookup(id, time.Now(), 0); s != nil || err != nil {
		t.Errorf("after a sign-out while the store could not be read, the store still has the session (%v, %v)", s, err)
	}
}
