package plexauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-plexauth/caddy-plexauth/apptest"
)

// These tests run a real Caddy with app_sign_in in front of the fakes of
// Overseerr and Tautulli (package apptest), which check tokens with the
// fake plex.tv as the real applications ask plex.tv.

// appEnv is an env whose block signs into the application at appURL,
// which is also its upstream; its module and audit logs go to a file.
type appEnv struct {
	*env
	log string
}

func newAppEnv(t *testing.T) *appEnv {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "plexauth.log")
	e := newEnvGlobal(t, fmt.Sprintf("log plexauth {\n\t\toutput file %s\n\t\tformat json\n\t\tlevel DEBUG\n\t\tinclude http.handlers.plex_auth\n\t}", logFile), `http://localhost:SITEPORT {
	respond "starting"
}`)
	return &appEnv{env: e, log: logFile}
}

// loadApp loads a site whose plex_auth has `app_sign_in <args>` and
// proxies to upstream.
func (e *appEnv) loadApp(args, upstream string) {
	e.t.Helper()
	u, _ := url.Parse(upstream)
	e.load(`http://localhost:SITEPORT {
	plex_auth {
		server ` + machineID + `
		app_sign_in ` + args + `
		{PLEX}
	}
	reverse_proxy ` + u.Host + `
}`)
}

// newOverseerrEnv is an appEnv whose block signs into a fake Overseerr,
// which is also its upstream.
func newOverseerrEnv(t *testing.T) (*appEnv, *apptest.Overseerr) {
	t.Helper()
	e := newAppEnv(t)
	o := e.overseerr()
	e.loadApp("overseerr "+o.URL, o.URL)
	return e, o
}

func (e *appEnv) logText() string {
	b, _ := os.ReadFile(e.log)
	return string(b)
}

// signedInBrowser is a browser signed in at the gateway as account.
func (e *appEnv) signedInBrowser(account string) *browser {
	e.t.Helper()
	b := newBrowser(e.t)
	resp, body := e.signIn(b, account, "/")
	expectStatus(e.t, resp, http.StatusFound, body)
	return b
}

func (e *appEnv) overseerr() *apptest.Overseerr {
	o := apptest.NewOverseerr(e.plex.URL)
	e.t.Cleanup(o.Close)
	return o
}

// me is who the fake Overseerr says the browser is, through Caddy: the
// Plex username, or "" when it signs in no one.
func me(t *testing.T, b *browser) string {
	t.Helper()
	resp, body := b.get("/api/v1/auth/me", "Accept", "application/json")
	if resp.StatusCode == http.StatusForbidden {
		return ""
	}
	expectStatus(t, resp, http.StatusOK, body)
	var u struct {
		PlexUsername string `json:"plexUsername"`
	}
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		t.Fatal(err)
	}
	return u.PlexUsername
}

func setCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// expectNoToken fails when a Plex token of the env's accounts is in s.
func (e *appEnv) expectNoToken(what, s string) {
	e.t.Helper()
	for _, n := range []string{"owner", "homie", "friend", "stranger"} {
		if tok := e.plex.Account(n).Token; strings.Contains(s, tok) {
			e.t.Fatalf("%s holds %s's Plex token", what, n)
		}
	}
}

// Items 1, 3 and 7 of the issue: the first request arrives signed in, the
// cookie is set in the browser, later requests cost no call, the call
// carries nothing of the browser's, and no token leaks.
func TestAppSignInFirstRequestArrivesSignedIn(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("friend")

	resp, body := b.get("/api/v1/auth/me", "Accept", "application/json", "X-Forwarded-For", "203.0.113.9", "Authorization", "Bearer browser-secret")
	expectStatus(t, resp, http.StatusOK, body)
	if !strings.Contains(body, `"plexUsername":"friend"`) {
		t.Fatalf("the first request reached Overseerr as %s, want friend", body)
	}
	c := setCookie(resp, "connect.sid")
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge < 29*24*3600 {
		t.Fatalf("connect.sid set as %+v, want HttpOnly, SameSite=Lax, Path=/, the app's 30 days", c)
	}
	for range 3 {
		if got := me(t, b); got != "friend" {
			t.Fatalf("signed in to Overseerr as %q, want friend", got)
		}
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 1 {
		t.Fatalf("%d sign-in calls, want 1", n)
	}
	for _, r := range o.Requests() {
		if r.Path != "/api/v1/auth/plex" {
			continue
		}
		for k, v := range r.Header {
			switch k {
			case "Accept", "Content-Type", "Content-Length", "User-Agent", "Accept-Encoding":
				if k == "User-Agent" && strings.Contains(v[0], "Mozilla") {
					t.Errorf("the sign-in call carried the browser's User-Agent")
				}
			default:
				t.Errorf("the sign-in call carried %s: %q", k, v)
			}
		}
	}
	// The token went to Overseerr only: not to the browser, not in the
	// log, not in a header to the upstream.
	e.expectNoToken("a response", fmt.Sprint(resp.Header)+body)
	for _, r := range o.Requests() {
		if r.Path != "/api/v1/auth/plex" {
			e.expectNoToken("a request to the upstream", fmt.Sprint(r.Header))
		}
	}
	waitFor(t, 10*time.Second, "the audit line", func() bool { return strings.Contains(e.logText(), `"msg":"signed in to app"`) })
	log := e.logText()
	e.expectNoToken("the log", log)
	if !strings.Contains(log, `"app":"overseerr","result":"ok"`) {
		t.Fatalf("no audit line with the app and the result:\n%s", log)
	}
	got := scrape(t, adminPort)
	if got[`caddy_plex_auth_app_sign_ins_total{app="overseerr",result="ok"}`] < 1 {
		t.Fatalf("the ok sign-in is not counted: %v", got)
	}
}

// Item 2 and the shared computer: a browser presenting another app
// session (an old one, another user's) gets the one made for its
// plex_auth session, and Overseerr never rewrites the other user.
func TestAppSignInSharedBrowserHandedToAnotherUser(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("owner")
	if got := me(t, b); got != "owner" {
		t.Fatalf("signed in to Overseerr as %q, want owner", got)
	}
	ownerCookie := b.cookie("connect.sid")
	// The computer changes hands: friend signs in at the gateway, the
	// owner's Overseerr cookie still in the browser.
	resp, body := e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	if got := me(t, b); got != "friend" {
		t.Fatalf("after the hand-over, signed in to Overseerr as %q, want friend", got)
	}
	if c := b.cookie("connect.sid"); c == nil || c.Value == ownerCookie.Value {
		t.Fatal("the owner's Overseerr cookie stayed in the browser")
	}
	// The sign-in call did not carry the owner's cookie: Overseerr did
	// not rewrite the owner's user with friend's token.
	if u := o.User(e.plex.Account("owner").ID); u == nil || u.Token != e.plex.Account("owner").Token || u.Username != "owner" {
		t.Fatalf("Overseerr's owner is now %+v", u)
	}
	// A value a script set is replaced too.
	u, _ := url.Parse(siteURL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: "connect.sid", Value: ownerCookie.Value, Path: "/"}})
	if got := me(t, b); got != "friend" {
		t.Fatalf("with the owner's cookie put back, signed in to Overseerr as %q, want friend", got)
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 2 {
		t.Fatalf("%d sign-in calls, want 2 (one per plex_auth session)", n)
	}
}

// Item 4: the logout ends the app session and expires its cookie.
func TestAppSignInLogoutEndsTheAppSession(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("signed in to Overseerr as %q", got)
	}
	cookie := b.cookie("connect.sid").Value
	resp, body := b.get("/_plexauth/logout")
	expectStatus(t, resp, http.StatusFound, body)
	if c := setCookie(resp, "connect.sid"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("the logout set connect.sid as %+v, want it expired", c)
	}
	waitFor(t, 10*time.Second, "Overseerr's logout", func() bool { return o.SessionUser(cookie) == 0 })
	if n := o.Count("POST", "/api/v1/auth/logout"); n != 1 {
		t.Fatalf("%d logout calls, want 1", n)
	}
}

// A block with app_sign_in nested in a site-wide plex_auth (which strips
// the session cookie before it runs) finds the session the outer one
// admitted, judges it by its own rules, and signs its user into the
// application as a block of its own would.
func TestAppSignInInsideAnotherPlexAuthSignsIn(t *testing.T) {
	e := newAppEnv(t)
	o := e.overseerr()
	u, _ := url.Parse(o.URL)
	e.load(`http://localhost:SITEPORT {
	plex_auth {
		server ` + machineID + `
		{PLEX}
	}
	handle /api/* {
		plex_auth {
			server ` + machineID + `
			app_sign_in overseerr ` + o.URL + `
			{PLEX}
		}
		reverse_proxy ` + u.Host + `
	}
	respond "outside"
}`)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("through the inner block, signed in to Overseerr as %q, want friend", got)
	}
	if got := me(t, b); got != "friend" {
		t.Fatalf("on the next request, signed in to Overseerr as %q, want friend", got)
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 1 {
		t.Fatalf("%d sign-in calls, want 1 (one per plex_auth session)", n)
	}
}

// An OpenID Connect application's logout (end_session) ends the Plex
// sign-in as {prefix}/logout does, and so the app sessions it made too,
// expiring this block's app cookie.
func TestAppSignInOIDCEndSessionEndsTheAppSession(t *testing.T) {
	e := newAppEnv(t)
	o := e.overseerr()
	e.loadApp("overseerr "+o.URL+`
		oidc_client grafana {
			secret `+rpSecret+`
			redirect_uri `+rpGrafana+`
			post_logout_redirect_uri `+rpLogoutDone+`
		}`, o.URL)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("signed in to Overseerr as %q", got)
	}
	cookie := b.cookie("connect.sid").Value
	q := url.Values{"client_id": {"grafana"}, "post_logout_redirect_uri": {rpLogoutDone}}
	resp, body := b.get("/_plexauth/end_session?"+q.Encode(), "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != rpLogoutDone {
		t.Fatalf("end_session: %d %q %.200s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if c := setCookie(resp, "connect.sid"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("end_session set connect.sid as %+v, want it expired", c)
	}
	waitFor(t, 10*time.Second, "Overseerr's logout", func() bool { return o.SessionUser(cookie) == 0 })
	if n := o.Count("POST", "/api/v1/auth/logout"); n != 1 {
		t.Fatalf("%d logout calls, want 1", n)
	}
}

// The app's own sign-out, through the proxy: the next request makes a
// new app session instead of presenting the ended one.
func TestAppSignInAppsOwnLogoutIsFollowedByANewSignIn(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("signed in to Overseerr as %q", got)
	}
	resp, body := b.do(http.MethodPost, "/api/v1/auth/logout", url.Values{})
	expectStatus(t, resp, http.StatusOK, body)
	if got := me(t, b); got != "friend" {
		t.Fatalf("after Overseerr's own logout, signed in as %q, want friend again", got)
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 2 {
		t.Fatalf("%d sign-in calls, want 2", n)
	}
}

// Item 5: a refusal lets the request through as no one, is logged with
// the app's answer, and is not asked again for that session.
func TestAppSignInRefusalIsNotAskedAgain(t *testing.T) {
	e := newAppEnv(t)
	o := e.overseerr()
	// Another user's live Overseerr session, made at Overseerr itself,
	// will be in the browser: it is not let through either.
	other, err := appSignInDirect(o, e.plex.Account("owner").Token)
	if err != nil || o.SessionUser(other) == 0 {
		t.Fatalf("no Overseerr session for the owner: %v", err)
	}
	o.SetNewPlexLogin(false)
	e.loadApp("overseerr "+o.URL, o.URL)
	b := e.signedInBrowser("friend")
	u, _ := url.Parse(siteURL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: "connect.sid", Value: other, Path: "/"}})
	for range 5 {
		if got := me(t, b); got != "" {
			t.Fatalf("a refused user reached Overseerr as %q, want no one", got)
		}
		resp, body := b.get("/")
		expectStatus(t, resp, http.StatusOK, body)
		if !strings.Contains(body, "sign in with Plex") {
			t.Fatalf("Overseerr's own page not shown: %q", body)
		}
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 2 { // 1 here, 1 by appSignInDirect
		t.Fatalf("%d sign-in calls, want 1 from plex_auth", n-1)
	}
	waitFor(t, 10*time.Second, "the refusal's log line", func() bool { return strings.Contains(e.logText(), "Access denied.") })
	if n := strings.Count(e.logText(), "the application refused"); n != 1 {
		t.Fatalf("the refusal was logged %d times, want once", n)
	}
	if got := scrape(t, adminPort)[`caddy_plex_auth_app_sign_ins_total{app="overseerr",result="refused"}`]; got < 1 {
		t.Fatal("the refusal is not counted")
	}
}

// appSignInDirect signs token in at the fake Overseerr itself, as the
// user's own "Sign in with Plex" would, and returns the connect.sid value.
func appSignInDirect(o *apptest.Overseerr, token string) (string, error) {
	resp, err := http.Post(o.URL+"/api/v1/auth/plex", "application/json", strings.NewReader(`{"authToken":"`+token+`"}`))
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if c := setCookie(resp, "connect.sid"); c != nil {
		return c.Value, nil
	}
	return "", fmt.Errorf("Overseerr answered %d without a session", resp.StatusCode)
}

// Item 5: an app that cannot be reached: the request goes on, one call.
func TestAppSignInUnreachableAppIsNotAskedPerRequest(t *testing.T) {
	e, o := newOverseerrEnv(t)
	o.Close()
	b := e.signedInBrowser("friend")
	for range 3 {
		resp, body := b.get("/")
		expectStatus(t, resp, http.StatusBadGateway, body)
	}
	waitFor(t, 10*time.Second, "the error's log line", func() bool { return strings.Contains(e.logText(), "could not be asked") })
	if n := strings.Count(e.logText(), "could not be asked"); n != 1 {
		t.Fatalf("%d sign-in attempts to an unreachable app, want 1", n)
	}
}

// Item 6: ten concurrent first requests of one browser, one sign-in.
func TestAppSignInConcurrentFirstRequestsMakeOneCall(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("friend")
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, siteURL+"/api/v1/auth/me", nil)
			req.Header.Set("Accept", "application/json")
			resp, err := b.c.Do(req)
			if err != nil {
				got[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			var u struct {
				PlexUsername string `json:"plexUsername"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&u)
			got[i] = u.PlexUsername
		}()
	}
	wg.Wait()
	for i, g := range got {
		if g != "friend" {
			t.Errorf("request %d reached Overseerr as %q, want friend", i, g)
		}
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 1 {
		t.Fatalf("%d sign-in calls for ten concurrent requests, want 1", n)
	}
}

// Seerr's REQUIRES_PROFILE is a refusal: no cookie, no sign-in.
func TestAppSignInSeerrRequiresProfileIsARefusal(t *testing.T) {
	e := newAppEnv(t)
	o := e.overseerr()
	o.SetSeerrMainUser(e.plex.Account("owner").ID)
	e.loadApp("overseerr "+o.URL, o.URL)
	b := e.signedInBrowser("owner")
	resp, body := b.get("/")
	expectStatus(t, resp, http.StatusOK, body)
	if setCookie(resp, "connect.sid") != nil || me(t, b) != "" {
		t.Fatal("REQUIRES_PROFILE signed the user in")
	}
}

// Tautulli: its CSRF rule (login page token, then the POST), its cookie
// under its HTTP root, and its logout.
func TestAppSignInTautulli(t *testing.T) {
	e := newAppEnv(t)
	tt := apptest.NewTautulli(e.plex.URL, machineID, "/tautulli")
	t.Cleanup(tt.Close)
	tt.AllowGuest(e.plex.Account("friend").ID)
	e.loadApp("tautulli "+tt.URL, tt.URL)
	b := e.signedInBrowser("friend")
	resp, body := b.get("/tautulli/home")
	expectStatus(t, resp, http.StatusOK, body)
	if body != "tautulli: signed in as friend\n" {
		t.Fatalf("Tautulli saw %q", body)
	}
	c := setCookie(resp, tt.CookieName())
	if c == nil || c.Path != "/tautulli" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("the Tautulli cookie was set as %+v", c)
	}
	if _, body := b.get("/tautulli/history"); body != "tautulli: signed in as friend\n" {
		t.Fatalf("the second request: %q", body)
	}
	if n := tt.Count("POST", "/tautulli/auth/signin"); n != 1 {
		t.Fatalf("%d sign-in calls, want 1", n)
	}
	resp, body = b.get("/_plexauth/logout")
	expectStatus(t, resp, http.StatusFound, body)
	waitFor(t, 10*time.Second, "Tautulli's logout", func() bool { return tt.TokenUser(c.Value) == 0 })
}

// Tautulli with an API key: no login page fetched.
func TestAppSignInTautulliWithAPIKey(t *testing.T) {
	e := newAppEnv(t)
	tt := apptest.NewTautulli(e.plex.URL, machineID, "")
	t.Cleanup(tt.Close)
	tt.AllowGuest(e.plex.Account("friend").ID)
	e.loadApp("tautulli "+tt.URL+" "+tt.APIKey, tt.URL)
	b := e.signedInBrowser("friend")
	if _, body := b.get("/home"); body != "tautulli: signed in as friend\n" {
		t.Fatalf("Tautulli saw %q", body)
	}
	if n := tt.Count("GET", "/auth/login"); n != 0 {
		t.Fatalf("%d GETs of Tautulli's login page with an API key, want 0", n)
	}
	if log := e.logText(); strings.Contains(log, tt.APIKey) {
		t.Fatal("the API key is in the log")
	}
}

// Item 5: Tautulli's 429 (its lock-out of the gateway's one address)
// pauses sign-ins to it for everyone.
func TestAppSignInTautulliLockoutPausesEveryone(t *testing.T) {
	e := newAppEnv(t)
	tt := apptest.NewTautulli(e.plex.URL, machineID, "")
	t.Cleanup(tt.Close)
	tt.AllowGuest(e.plex.Account("friend").ID)
	tt.SetCSRF(false)
	e.loadApp("tautulli "+tt.URL, tt.URL)
	// Ten failed sign-ins from the gateway's address lock it out.
	for range 10 {
		resp, err := http.PostForm(tt.URL+"/auth/signin", url.Values{"token": {"bad"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	homie := e.signedInBrowser("homie")
	homie.get("/home")
	if n := tt.Count("POST", "/auth/signin"); n != 11 {
		t.Fatalf("%d sign-in calls, want 11", n)
	}
	friend := e.signedInBrowser("friend")
	resp, body := friend.get("/home")
	expectStatus(t, resp, http.StatusSeeOther, body)
	if n := tt.Count("POST", "/auth/signin"); n != 11 {
		t.Fatalf("after the 429, %d sign-in calls, want still 11: the pause covers everyone", n)
	}
}

func TestAppSignInConfigErrorsNameTheOptionAndLine(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"app_sign_in jellyfin http://localhost:8096", "unknown kind"},
		{"app_sign_in overseerr localhost:5055", "absolute"},
		{"app_sign_in overseerr http://localhost:5055 key", "no API key"},
		{"app_sign_in tautulli", "takes a kind"},
	} {
		p := new(PlexAuth)
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("plex_auth {\n\tallow_any_plex_user\n\t" + tc.line + "\n}"))
		if err == nil || !strings.Contains(err.Error(), "app_sign_in") || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":3") {
			t.Errorf("%s: error %v, want one naming app_sign_in, line 3 and %q", tc.line, err, tc.want)
		}
	}
	bad := &PlexAuth{AllowAnyPlexUser: true, AppSignIn: &AppSignIn{Kind: "overseerr", URL: "http://x", APIKey: "k"}}
	if err := bad.validateAppSignIn(); err == nil || !strings.Contains(err.Error(), "app_sign_in") {
		t.Fatalf("Validate: %v", err)
	}
}

// Item 4: a re-check that ends the session (the token revoked) ends the
// app session too.
func TestAppSignInRecheckEndingTheSessionEndsTheAppSession(t *testing.T) {
	e := newAppEnv(t)
	o := e.overseerr()
	e.loadApp("overseerr "+o.URL+"\n\t\trevalidate 1s", o.URL)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("signed in to Overseerr as %q", got)
	}
	cookie := b.cookie("connect.sid").Value
	e.plex.RevokeToken("friend")
	waitFor(t, 20*time.Second, "the re-check to end the app session", func() bool {
		b.get("/")
		return o.SessionUser(cookie) == 0
	})
}

// Item 4: the admin API ending the account's sessions ends the app
// session too.
func TestAppSignInAdminAPIEndingTheSessionEndsTheAppSession(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("signed in to Overseerr as %q", got)
	}
	cookie := b.cookie("connect.sid").Value
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("http://localhost:%d/plex_auth/users/%d", adminPort, e.plex.Account("friend").ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the admin API answered %d", resp.StatusCode)
	}
	waitFor(t, 10*time.Second, "the admin API to end the app session", func() bool { return o.SessionUser(cookie) == 0 })
}

// The app cookie outlives memory: read back from the store (as another
// instance or a restart would), it is still the session's, and no new
// sign-in is made.
func TestAppSignInCookieIsKnownFromTheStore(t *testing.T) {
	e, o := newOverseerrEnv(t)
	b := e.signedInBrowser("friend")
	if got := me(t, b); got != "friend" {
		t.Fatalf("signed in to Overseerr as %q", got)
	}
	for _, sc := range caches() {
		sc.FlushLocal()
	}
	if got := me(t, b); got != "friend" {
		t.Fatalf("after memory was emptied, signed in to Overseerr as %q", got)
	}
	if n := o.Count("POST", "/api/v1/auth/plex"); n != 1 {
		t.Fatalf("%d sign-in calls, want 1: the store did not keep the app cookie", n)
	}
}
