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
)

const basicSite = `http://localhost:SITEPORT {
	plex_auth {
		server ` + machineID + `
		product "Media Tools"
		{PLEX}
	}
	reverse_proxy {UP}
}`

func TestFullSignInFlowReachesUpstreamWithIdentity(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)

	// 1. An unauthenticated navigation goes to the login page, keeping the deep link.
	resp, body := b.get("/tautulli/home?section=2")
	expectStatus(t, resp, http.StatusFound, body)
	if got, want := resp.Header.Get("Location"), "/_plexauth/login?rd="+url.QueryEscape("/tautulli/home?section=2"); got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	if e.up.count() != 0 {
		t.Fatal("unauthenticated request reached the upstream")
	}

	// 2. The login page has the form.
	resp, body = b.get(resp.Header.Get("Location"))
	expectStatus(t, resp, http.StatusOK, body)
	for _, want := range []string{`action="/_plexauth/start"`, "Sign in with Plex", `value="/tautulli/home?section=2"`, "Media Tools"} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("login page CSP = %q", csp)
	}

	// 3-4. Start, approve at Plex, come back.
	resp, body = e.signIn(b, "friend", "/tautulli/home?section=2")
	expectStatus(t, resp, http.StatusFound, body)
	if got := resp.Header.Get("Location"); got != "/tautulli/home?section=2" {
		t.Fatalf("after sign-in Location = %q, want the deep link", got)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "plex_auth_session" && c.MaxAge > 0 {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("callback set no session cookie: %v", resp.Header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.MaxAge != 168*3600 || session.Secure {
		t.Errorf("session cookie attributes: %+v", session)
	}
	if b.cookieAt("/_plexauth/callback", "plex_auth_session_state") != nil {
		t.Error("state cookie not cleared after sign-in")
	}
	// The check above can fail: mid-sign-in, the state cookie is there.
	probe := newBrowser(t)
	e.start(probe, "/")
	if probe.cookieAt("/_plexauth/callback", "plex_auth_session_state") == nil {
		t.Fatal("the state cookie is not visible under the prefix during a sign-in")
	}
	friend := e.plex.Account("friend")
	if strings.Contains(session.Value, friend.Token) || strings.Contains(session.Value, friend.Username) {
		t.Fatal("session cookie carries the token or the username in clear")
	}

	// 5. The signed-in request reaches the upstream with identity headers,
	// spoofed ones replaced, the session cookie stripped, others kept.
	resp, body = b.get("/tautulli/home?section=2",
		"Remote-User", "owner", "Remote-Groups", "owner", "Remote-Email", "evil@example.com", "Remote-Name", "Evil",
		"Cookie", "theme=dark")
	expectStatus(t, resp, http.StatusOK, body)
	got := e.up.last()
	if got == nil {
		t.Fatal("upstream saw nothing")
	}
	wantHdr := map[string]string{"Remote-User": "friend", "Remote-Email": "friend@example.com", "Remote-Name": "Friend", "Remote-Groups": "friend"}
	for k, v := range wantHdr {
		if vals := got.Header.Values(k); len(vals) != 1 || vals[0] != v {
			t.Errorf("upstream %s = %q, want [%q]", k, vals, v)
		}
	}
	cookies := strings.Join(got.Header.Values("Cookie"), "; ")
	if strings.Contains(cookies, "plex_auth_session") || !strings.Contains(cookies, "theme=dark") {
		t.Errorf("upstream Cookie header = %q: want theme kept, session stripped", cookies)
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, friend.Token) {
				t.Errorf("upstream header %s carries the Plex token", k)
			}
		}
	}
	if n := e.plex.Count(http.MethodGet, "/api/v2/user"); n != 1 {
		t.Errorf("plex.tv saw %d user calls; the signed-in request must not call plex.tv", n)
	}

	// 6. The login page, when already signed in, goes straight to rd.
	resp, body = b.get("/_plexauth/login?rd=%2Fsonarr")
	expectStatus(t, resp, http.StatusFound, body)
	if resp.Header.Get("Location") != "/sonarr" {
		t.Errorf("signed-in login page Location = %q", resp.Header.Get("Location"))
	}

	// 7. Logout ends the session server-side: an old copy of the cookie fails.
	old := b.cookie("plex_auth_session")
	resp, body = b.do(http.MethodPost, "/_plexauth/logout", url.Values{})
	expectStatus(t, resp, http.StatusSeeOther, body)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/_plexauth/login") {
		t.Errorf("logout Location = %q", resp.Header.Get("Location"))
	}
	if b.cookie("plex_auth_session") != nil {
		t.Error("logout did not expire the cookie")
	}
	before := e.up.count()
	resp, body = b.get("/tautulli", "Cookie", "plex_auth_session="+old.Value)
	expectStatus(t, resp, http.StatusFound, body)
	if e.up.count() != before {
		t.Error("old session cookie still reached the upstream after logout")
	}
}

func TestPlexCallsCarryTheRequiredHeaders(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	resp, body := e.signIn(b, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)
	var clientID string
	for _, r := range e.plex.Requests() {
		if !strings.HasPrefix(r.Path, "/api/v2/") {
			continue
		}
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("%s %s: Accept = %q", r.Method, r.Path, r.Header.Get("Accept"))
		}
		for _, h := range []string{"X-Plex-Product", "X-Plex-Client-Identifier", "X-Plex-Version", "X-Plex-Platform", "X-Plex-Device"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s %s lacks %s", r.Method, r.Path, h)
			}
		}
		if clientID == "" {
			clientID = r.Header.Get("X-Plex-Client-Identifier")
		} else if r.Header.Get("X-Plex-Client-Identifier") != clientID {
			t.Errorf("client identifier changed between calls")
		}
		if r.Query.Get("X-Plex-Token") != "" {
			t.Errorf("%s %s: token in the URL", r.Method, r.Path)
		}
		if r.Path == "/api/v2/pins" && r.Query.Get("strong") != "true" {
			t.Errorf("pin created without strong=true")
		}
	}
	for _, want := range []string{"/api/v2/pins", "/api/v2/pins/*", "/api/v2/user", "/api/v2/resources"} {
		if e.plex.Count("", want) == 0 {
			t.Errorf("plex.tv never saw %s", want)
		}
	}
}

func TestUnauthenticatedNonNavigationGets401(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	cases := []struct {
		name     string
		method   string
		hdr      []string
		wantJSON bool
	}{
		{"api client", http.MethodGet, []string{"Accept", "*/*"}, false},
		{"json", http.MethodGet, []string{"Accept", "application/json"}, true},
		{"xhr", http.MethodGet, []string{"X-Requested-With", "XMLHttpRequest"}, false},
		{"fetch", http.MethodGet, []string{"Sec-Fetch-Mode", "cors"}, false},
		{"websocket", http.MethodGet, []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, false},
		{"post", http.MethodPost, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := b.do(c.method, "/api/v1/things", nil, c.hdr...)
			expectStatus(t, resp, http.StatusUnauthorized, body)
			// API clients learn where to go from the challenge.
			if got, want := resp.Header.Get("WWW-Authenticate"), `PlexSignIn login="/_plexauth/login"`; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			if c.wantJSON {
				var v map[string]string
				if err := json.Unmarshal([]byte(body), &v); err != nil || v["error"] == "" {
					t.Errorf("want a JSON body, got %q", body)
				}
			}
		})
	}
	if e.up.count() != 0 {
		t.Fatal("an unauthenticated request reached the upstream")
	}
}

func TestRefusedAccountGets403AndNoSession(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	resp, body := e.signIn(b, "stranger", "/")
	expectStatus(t, resp, http.StatusForbidden, body)
	if !strings.Contains(body, "stranger") || !strings.Contains(body, "another account") {
		t.Errorf("denied page should name the account and offer another: %.400s", body)
	}
	if b.cookie("plex_auth_session") != nil {
		t.Fatal("a refused account got a session")
	}
}

func TestFriendIsRefusedOnOwnerOnlyRoute(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	route /admin/* {
		plex_auth {
			server `+machineID+`
			allow_tier owner
			{PLEX}
		}
		reverse_proxy {UP}
	}
	route {
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		reverse_proxy {UP}
	}
}`)
	for _, c := range []struct {
		account string
		want    int
	}{{"friend", http.StatusForbidden}, {"homie", http.StatusForbidden}, {"owner", http.StatusOK}} {
		t.Run(c.account, func(t *testing.T) {
			b := newBrowser(t)
			resp, body := e.signIn(b, c.account, "/")
			expectStatus(t, resp, http.StatusFound, body)
			resp, body = b.get("/media")
			expectStatus(t, resp, http.StatusOK, body)
			resp, body = b.get("/admin/settings")
			expectStatus(t, resp, c.want, body)
			if c.want == http.StatusOK {
				if g := e.up.last().Header.Get("Remote-Groups"); g != "owner" {
					t.Errorf("Remote-Groups = %q", g)
				}
			}
		})
	}
}

func TestAllowUsersAndServerMustBothHold(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		allow_users FRIEND@example.com stranger
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	for _, c := range []struct {
		account string
		want    int
	}{{"friend", http.StatusFound}, {"stranger", http.StatusForbidden}, {"owner", http.StatusForbidden}} {
		t.Run(c.account, func(t *testing.T) {
			resp, body := e.signIn(newBrowser(t), c.account, "/")
			expectStatus(t, resp, c.want, body)
		})
	}
}

func TestOpenRedirectAttemptsStayOnSite(t *testing.T) {
	e := newEnv(t, basicSite)
	for _, rd := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", siteURL + ".evil.example/"} {
		t.Run(rd, func(t *testing.T) {
			b := newBrowser(t)
			resp, body := e.signIn(b, "owner", rd)
			expectStatus(t, resp, http.StatusFound, body)
			if loc := resp.Header.Get("Location"); loc != "/" {
				t.Errorf("rd %q led to %q, want /", rd, loc)
			}
		})
	}
	b := newBrowser(t)
	resp, body := e.signIn(b, "owner", siteURL+"/ok?x=1")
	expectStatus(t, resp, http.StatusFound, body)
	if loc := resp.Header.Get("Location"); loc != siteURL+"/ok?x=1" {
		t.Errorf("same-host absolute rd led to %q", loc)
	}
}

func TestCallbackStates(t *testing.T) {
	e := newEnv(t, basicSite)

	t.Run("no state cookie", func(t *testing.T) {
		resp, body := newBrowser(t).get("/_plexauth/callback")
		expectStatus(t, resp, http.StatusBadRequest, body)
	})
	t.Run("forged state cookie", func(t *testing.T) {
		resp, body := newBrowser(t).get("/_plexauth/callback", "Cookie", "plex_auth_session_state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		expectStatus(t, resp, http.StatusBadRequest, body)
	})
	t.Run("session cookie replayed as state", func(t *testing.T) {
		b := newBrowser(t)
		e.signIn(b, "owner", "/")
		s := b.cookie("plex_auth_session")
		resp, body := newBrowser(t).get("/_plexauth/callback", "Cookie", "plex_auth_session_state="+s.Value)
		expectStatus(t, resp, http.StatusBadRequest, body)
	})
	t.Run("pin not yet approved", func(t *testing.T) {
		b := newBrowser(t)
		e.start(b, "/")
		resp, body := b.get("/_plexauth/callback")
		expectStatus(t, resp, http.StatusOK, body)
		if !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "Waiting") {
			t.Errorf("waiting page should retry by itself: %.300s", body)
		}
	})
	t.Run("pin expired", func(t *testing.T) {
		b := newBrowser(t)
		e.start(b, "/x")
		e.plex.ExpirePins()
		resp, body := b.get("/_plexauth/callback")
		expectStatus(t, resp, http.StatusGone, body)
		if !strings.Contains(body, "/_plexauth/login?rd=%2Fx") {
			t.Errorf("expired page should link to a new start: %s", body[strings.Index(body, "<main>"):])
		}
	})
}

func TestPlexDownGivesGatewayPagesAndNeverHangs(t *testing.T) {
	e := newEnv(t, basicSite)
	signedIn := newBrowser(t)
	resp, body := e.signIn(signedIn, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)

	for _, c := range []struct {
		name   string
		set    func()
		status int
		says   string
	}{
		{"connection dropped", func() { e.plex.SetDown(true) }, http.StatusBadGateway, "Plex is having trouble"},
		{"5xx", func() { e.plex.SetStatus(http.StatusInternalServerError, 0) }, http.StatusBadGateway, "Plex is having trouble"},
		{"429", func() { e.plex.SetStatus(http.StatusTooManyRequests, 30) }, http.StatusServiceUnavailable, "Plex is having trouble"},
		{"slower than timeout", func() { e.plex.SetDelay(10 * 1e9) }, http.StatusBadGateway, "plex.tv did not answer in time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.set()
			defer func() { e.plex.SetDown(false); e.plex.SetStatus(0, 0); e.plex.SetDelay(0) }()
			resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/where?x=1"}})
			expectStatus(t, resp, c.status, body)
			if !strings.Contains(body, c.says) {
				t.Errorf("page should say %q: %.600s", c.says, body[strings.Index(body, "<main>"):])
			}
			if !strings.Contains(body, `href="/_plexauth/login?rd=%2Fwhere%3Fx%3D1"`) {
				t.Errorf("Try again should keep where the user was going: %.600s", body[strings.Index(body, "<main>"):])
			}
			if c.status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "30" {
				t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
			}
			// A signed-in user keeps working: the hot path never calls plex.tv.
			resp, body = signedIn.get("/still-works")
			expectStatus(t, resp, http.StatusOK, body)
		})
	}
}

func TestGarbageInGetsClean4xx(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	cases := []struct {
		name   string
		method string
		target string
		hdr    []string
		want   int
	}{
		{"unknown endpoint", "GET", "/_plexauth/nope", nil, http.StatusNotFound},
		{"bare prefix", "GET", "/_plexauth", nil, http.StatusNotFound},
		{"bad percent-encoding", "GET", "/_plexauth/login?rd=%zz", nil, http.StatusBadRequest},
		{"oversized rd", "GET", "/_plexauth/login?rd=/" + strings.Repeat("a", 8000), nil, http.StatusOK},
		{"wrong method", "DELETE", "/_plexauth/login", nil, http.StatusMethodNotAllowed},
		{"garbage session cookie", "GET", "/x", []string{"Cookie", "plex_auth_session=%%%garbage"}, http.StatusFound},
		{"huge session cookie", "GET", "/x", []string{"Cookie", "plex_auth_session=" + strings.Repeat("A", 5000)}, http.StatusFound},
		{"quoted cookie", "GET", "/x", []string{"Cookie", `plex_auth_session="abc"`}, http.StatusFound},
		{"garbage state cookie", "GET", "/_plexauth/callback", []string{"Cookie", "plex_auth_session_state=!!!"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := b.do(c.method, c.target, nil, c.hdr...)
			expectStatus(t, resp, c.want, body)
		})
	}
	if e.up.count() != 0 {
		t.Fatal("garbage reached the upstream")
	}
}

func TestSessionsSurviveConfigReload(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	resp, body := e.signIn(b, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)
	// A changed config: another product name.
	e.load(strings.Replace(basicSite, `"Media Tools"`, `"Other Name"`, 1))
	resp, body = b.get("/after-reload")
	expectStatus(t, resp, http.StatusOK, body)
}

func TestHandlePathKeepsExternalLinks(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	handle_path /tools/* {
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		reverse_proxy {UP}
	}
}`)
	b := newBrowser(t)
	resp, body := b.get("/tools/tautulli?x=1")
	expectStatus(t, resp, http.StatusFound, body)
	if got, want := resp.Header.Get("Location"), "/tools/_plexauth/login?rd="+url.QueryEscape("/tools/tautulli?x=1"); got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	resp, body = b.get(resp.Header.Get("Location"))
	expectStatus(t, resp, http.StatusOK, body)
	if !strings.Contains(body, `action="/tools/_plexauth/start"`) {
		t.Errorf("login form should post under /tools: %.500s", body)
	}
	_ = e
}

func TestSecretRotationKeepsOldCookiesUntilTheOldSecretIsDropped(t *testing.T) {
	withSecret := func(secrets string) string {
		return strings.Replace(basicSite, "{PLEX}", "{PLEX}\n\t\tsecret "+secrets, 1)
	}
	e := newEnv(t, withSecret("first-secret-0123456789"))
	b := newBrowser(t)
	resp, body := e.signIn(b, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)

	e.load(withSecret("second-secret-0123456789 first-secret-0123456789"))
	resp, body = b.get("/rotated")
	expectStatus(t, resp, http.StatusOK, body)

	e.load(withSecret("second-secret-0123456789"))
	resp, body = b.get("/old-secret-dropped")
	expectStatus(t, resp, http.StatusFound, body)
}

// However many requests ask about one pin, plex.tv is asked about it at
// most once a second, and the askers share the answer.
func TestPollsOfOnePinShareOnePlexCallASecond(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	e.start(b, "/")
	state := b.cookieAt("/_plexauth/poll", "plex_auth_session_state")
	if state == nil {
		t.Fatal("no state cookie")
	}
	e.plex.ResetLog()
	const n = 150
	statuses := make(chan int, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, siteURL+"/_plexauth/poll", nil)
			req.Header.Set("Cookie", state.Name+"="+state.Value)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(statuses)
	for st := range statuses {
		if st != http.StatusOK {
			t.Fatalf("poll answered %d; every asker should share the pending answer", st)
		}
	}
	calls := e.plex.Count(http.MethodGet, "/api/v2/pins/*")
	if max := int(elapsed/time.Second) + 1; calls < 1 || calls > max {
		t.Fatalf("plex.tv saw %d checks of one pin from %d polls in %v; want 1 to %d", calls, n, elapsed, max)
	}
}

// TestNestedPlexAuthAppliesTheStricterRulesInside: a site-wide plex_auth
// and a stricter one inside handle /admin/* both run on /admin requests.
// The outer one strips the session cookie before the inner one runs; the
// inner one must still find the session, and apply its own rules.
func TestNestedPlexAuthAppliesTheStricterRulesInside(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
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
		reverse_proxy {UP}
	}
	reverse_proxy {UP}
}`)
	for _, c := range []struct {
		account    string
		adminWants int
	}{{"friend", http.StatusForbidden}, {"owner", http.StatusOK}} {
		t.Run(c.account, func(t *testing.T) {
			b := newBrowser(t)
			resp, body := e.signIn(b, c.account, "/")
			expectStatus(t, resp, http.StatusFound, body)
			resp, body = b.get("/media")
			expectStatus(t, resp, http.StatusOK, body)
			resp, body = b.get("/admin/settings")
			expectStatus(t, resp, c.adminWants, body)
			if c.adminWants == http.StatusOK {
				got := e.up.last()
				if got.URL.Path != "/admin/settings" || got.Header.Get("Remote-Groups") != "owner" {
					t.Fatalf("upstream saw %s with Remote-Groups %q", got.URL.Path, got.Header.Get("Remote-Groups"))
				}
				if strings.Contains(got.Header.Get("Cookie"), "plex_auth_session") {
					t.Fatal("the session cookie reached the upstream")
				}
			}
		})
	}
}

// TestRefusedOwnerLogLineShowsTheServersReached: an owner refused at their
// own site because `server` names another id learns the right one from the
// log line.
func TestRefusedOwnerLogLineShowsTheServersReached(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	wrongID := strings.Repeat("0", 40)
	e := newEnvGlobal(t, "log {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t}", `http://localhost:SITEPORT {
	plex_auth {
		server `+wrongID+`
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	resp, body := e.signIn(newBrowser(t), "owner", "/")
	expectStatus(t, resp, http.StatusForbidden, body)
	var line map[string]any
	for deadline := time.Now().Add(10 * time.Second); line == nil; {
		b, _ := os.ReadFile(logPath)
		for l := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(l, `"msg":"sign-in refused"`) {
				_ = json.Unmarshal([]byte(l), &line)
			}
		}
		if line == nil && time.Now().After(deadline) {
			t.Fatalf("no refusal line in the log:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := fmt.Sprint(line["servers_reached"]); got != "["+machineID+"]" {
		t.Errorf("servers_reached = %s, want [%s]", got, machineID)
	}
	if got := fmt.Sprint(line["servers_configured"]); got != "["+wrongID+"]" {
		t.Errorf("servers_configured = %s, want [%s]", got, wrongID)
	}
}

// TestPlexUnreachableIsNotCalledSlow: a plex.tv this server cannot reach
// (the name does not resolve, or nothing listens) is said to be
// unreachable, on the page, in the popup's JSON and in the log, not "did
// not answer in time".
func TestPlexUnreachableIsNotCalledSlow(t *testing.T) {
	closed := freePort(t) // nothing listens there
	for name, plexURL := range map[string]string{
		"name does not resolve": "http://plex.invalid",
		"connection refused":    fmt.Sprintf("http://127.0.0.1:%d", closed),
	} {
		t.Run(name, func(t *testing.T) {
			newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		plex_tv_url `+plexURL+`
		timeout 2s
	}
	reverse_proxy {UP}
}`)
			resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/a"}})
			expectStatus(t, resp, http.StatusBadGateway, body)
			if !strings.Contains(body, "could not connect to plex.tv") || strings.Contains(body, "in time") {
				t.Errorf("page should say plex.tv could not be reached: %.600s", body[strings.Index(body, "<main>"):])
			}
			resp, body = newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/a"}, "popup": {"1"}}, "Accept", "application/json")
			expectStatus(t, resp, http.StatusBadGateway, body)
			if !strings.Contains(body, "could not connect to plex.tv") {
				t.Errorf("popup answer should say plex.tv could not be reached: %s", body)
			}
		})
	}
}
