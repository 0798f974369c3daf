package plexauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One sign-in for every subdomain: sites that import one plex_auth snippet
// with cookie_domain share the session cookie, so a sign-in on one is a
// sign-in on all, and a sign-out on one ends it on all.

// subdomainSites is the pattern of docs/sessions.md: a snippet with the plex_auth
// block, imported by each site. Two site blocks make two handlers, which
// share sessions only through the session store and the secret they both
// load from Caddy's storage.
const subdomainSites = `(plex) {
	plex_auth {
		server ` + machineID + `
		cookie_domain example.test
		redirect_domains .example.test
		{PLEX}
	}
}
http://a.example.test:SITEPORT {
	import plex
	reverse_proxy {UP}
}
http://b.example.test:SITEPORT {
	import plex
	reverse_proxy {UP}
}`

// subdomainURL is the base URL of name.example.test in this run.
func subdomainURL(name string) string {
	return fmt.Sprintf("http://%s.example.test:%d", name, sitePort)
}

// newSubdomainBrowser is newBrowser for sites under example.test, whose
// names it resolves to 127.0.0.1, as Chromium's --host-resolver-rules do
// in newChromeResolving.
func newSubdomainBrowser(t *testing.T) *browser {
	b := newBrowser(t)
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(hostport); err == nil && strings.HasSuffix(host, ".example.test") {
				hostport = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, hostport)
		},
	}
	trackTransport(t, tr)
	b.c.Transport = tr
	return b
}

// signInAt walks the same-tab sign-in on the site at base and returns the
// state cookie start set and the callback's response.
func (e *env) signInAt(b *browser, base, account, rd string) (state *http.Cookie, resp *http.Response, body string) {
	e.t.Helper()
	resp, body = b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {rd}})
	expectStatus(e.t, resp, http.StatusSeeOther, body)
	state = responseCookie(resp, "plex_auth_session_state")
	loc := resp.Header.Get("Location")
	frag, err := url.ParseQuery(strings.TrimPrefix(loc, e.plex.AppURL()+"#?"))
	if err != nil {
		e.t.Fatal(err)
	}
	// Plex sends the browser back to the host it started on, where the
	// host-only state cookie is.
	if got, want := frag.Get("forwardUrl"), base+"/_plexauth/callback"; got != want {
		e.t.Fatalf("forwardUrl = %q, want %q", got, want)
	}
	if err := e.plex.Approve(frag.Get("code"), account); err != nil {
		e.t.Fatal(err)
	}
	resp, body = b.get(base + "/_plexauth/callback")
	return state, resp, body
}

func responseCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// upstreamServed tells whether the upstream served host's path to account.
func (u *upstream) served(host, path, account string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range u.seen {
		if r.Host == host && r.URL.RequestURI() == path && r.Header.Get("Remote-User") == account {
			return true
		}
	}
	return false
}

func TestSignInOnOneSubdomainIsValidOnAllAndSignOutEndsItOnAll(t *testing.T) {
	e := newEnv(t, subdomainSites)
	b := newSubdomainBrowser(t)
	a, bb := subdomainURL("a"), subdomainURL("b")
	host := func(base string) string { return strings.TrimPrefix(base, "http://") }

	state, resp, body := e.signInAt(b, a, "friend", "/tautulli")
	expectStatus(t, resp, http.StatusFound, body)
	if state == nil || state.Domain != "" || state.Path != "/_plexauth/" {
		t.Errorf("state cookie = %v, want host-only (no Domain) under the prefix: only the host that started the sign-in finishes it", state)
	}
	sess := responseCookie(resp, "plex_auth_session")
	if sess == nil || sess.Domain != "example.test" || sess.Path != "/" || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie = %v, want Domain=example.test; Path=/; HttpOnly; SameSite=Lax", sess)
	}

	// b never saw a sign-in: its handler opens a's cookie (same secret, from
	// Caddy's storage) to a's session (same store).
	resp, body = b.get(bb + "/sonarr")
	expectStatus(t, resp, http.StatusOK, body)
	if !e.up.served(host(bb), "/sonarr", "friend") {
		t.Fatal("the upstream never served b.example.test to friend")
	}

	// Signing out on b expires the cookie with the Domain and Path it was
	// set with (a browser keeps it otherwise) and ends the session itself.
	resp, body = b.get(bb + "/_plexauth/logout")
	expectStatus(t, resp, http.StatusFound, body)
	cleared := responseCookie(resp, "plex_auth_session")
	if cleared == nil || cleared.Domain != "example.test" || cleared.Path != "/" || cleared.MaxAge >= 0 {
		t.Fatalf("logout's session cookie = %v, want it expired with Domain=example.test; Path=/", cleared)
	}
	au, _ := url.Parse(a)
	for _, c := range b.jar.Cookies(au) {
		if c.Name == "plex_auth_session" {
			t.Fatal("after sign-out on b the browser still sends the session cookie to a")
		}
	}
	resp, body = b.get(a + "/tautulli")
	expectStatus(t, resp, http.StatusFound, body)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/_plexauth/login?rd=") {
		t.Fatalf("after sign-out on b, a sent the browser to %q, want its login page", loc)
	}
	// A copy of the cookie kept from before the sign-out opens nothing on
	// either site.
	for _, base := range []string{a, bb} {
		resp, body = newSubdomainBrowser(t).get(base+"/tautulli", "Cookie", "plex_auth_session="+sess.Value)
		expectStatus(t, resp, http.StatusFound, body)
	}
}

func TestSiblingSiteAppliesItsOwnRulesToTheSharedSignIn(t *testing.T) {
	e := newEnv(t, subdomainSites+`
http://c.example.test:SITEPORT {
	plex_auth {
		server `+machineID+`
		allow_tier owner
		cookie_domain example.test
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	b := newSubdomainBrowser(t)
	_, resp, body := e.signInAt(b, subdomainURL("a"), "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get(subdomainURL("c") + "/")
	expectStatus(t, resp, http.StatusForbidden, body)
	if !strings.Contains(body, "friend") {
		t.Errorf("the owner-only site's refusal should name the account: %.300s", body)
	}
	// The owner's sign-in on a opens c.
	b = newSubdomainBrowser(t)
	_, resp, body = e.signInAt(b, subdomainURL("a"), "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get(subdomainURL("c") + "/")
	expectStatus(t, resp, http.StatusOK, body)
}

func TestReturnURLToSiblingSubdomainIsKeptThroughSignIn(t *testing.T) {
	e := newEnv(t, subdomainSites)
	for _, c := range []struct{ rd, want string }{
		{subdomainURL("b") + "/x?y=1", subdomainURL("b") + "/x?y=1"},
		// Under redirect_domains by name only: a suffix without the dot
		// is another domain.
		{fmt.Sprintf("http://evilexample.test:%d/x", sitePort), "/"},
	} {
		_, resp, body := e.signInAt(newSubdomainBrowser(t), subdomainURL("a"), "homie", c.rd)
		expectStatus(t, resp, http.StatusFound, body)
		if got := resp.Header.Get("Location"); got != c.want {
			t.Errorf("rd %q: signed in and sent to %q, want %q", c.rd, got, c.want)
		}
	}
}

func TestCookieDomainNotCoveringTheHostIsWarnedOncePerHandler(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	e := newEnvGlobal(t, "log {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t}", `http://localhost:SITEPORT, http://a.example.test:SITEPORT {
	plex_auth {
		server `+machineID+`
		cookie_domain example.test
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	// The warning is logged before the sign-in's own line, so once that
	// line is there the warning would be too.
	count := func(signIns int) (warnings []map[string]any) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("%d sign-ins in the log", signIns), func() bool {
			n := 0
			for _, l := range logLines(t, logPath) {
				if l["msg"] == "signed in" {
					n++
				}
			}
			return n >= signIns
		})
		for _, l := range logLines(t, logPath) {
			if strings.HasPrefix(fmt.Sprint(l["msg"]), "cookie_domain does not cover") {
				warnings = append(warnings, l)
			}
		}
		return warnings
	}

	_, resp, body := e.signInAt(newSubdomainBrowser(t), subdomainURL("a"), "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)
	if w := count(1); len(w) != 0 {
		t.Fatalf("a sign-in on a host under cookie_domain was warned about: %v", w)
	}

	// localhost is not under example.test: the browser drops the cookie
	// and the user is back at the login page.
	b := newSubdomainBrowser(t)
	_, resp, body = e.signInAt(b, siteURL, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/")
	expectStatus(t, resp, http.StatusFound, body)
	_, resp, body = e.signInAt(b, siteURL, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)

	w := count(3)
	if len(w) != 1 {
		t.Fatalf("got %d warnings for sign-ins on a host outside cookie_domain, want exactly 1: %v", len(w), w)
	}
	if w[0]["level"] != "warn" || w[0]["host"] != strings.TrimPrefix(siteURL, "http://") || w[0]["cookie_domain"] != "example.test" {
		t.Errorf("warning = %v, want level warn naming host %s and cookie_domain example.test", w[0], strings.TrimPrefix(siteURL, "http://"))
	}
}

// Turning cookie_domain on (or off) leaves browsers holding the session
// cookie of the old scope beside the new one, under the same name; a
// browser sends the older first. Neither sign-out nor sign-in may then
// be stuck on the stale one.
func TestSwitchingCookieDomainLeavesNoStaleCookieInTheWay(t *testing.T) {
	hostOnly := strings.Replace(subdomainSites, "\t\tcookie_domain example.test\n", "", 1)
	for _, c := range []struct {
		name, before, after string
		// Without cookie_domain the old Domain is not known, so that
		// cookie stays in the browser, naming an ended session.
		expiresBoth bool
	}{
		{"turned on", hostOnly, subdomainSites, true},
		{"turned off", subdomainSites, hostOnly, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.before)
			b := newSubdomainBrowser(t)
			a, bb := subdomainURL("a"), subdomainURL("b")
			_, resp, body := e.signInAt(b, a, "friend", "/")
			expectStatus(t, resp, http.StatusFound, body)
			old := responseCookie(resp, "plex_auth_session")

			e.load(c.after)
			_, resp, body = e.signInAt(b, a, "homie", "/")
			expectStatus(t, resp, http.StatusFound, body)
			current := responseCookie(resp, "plex_auth_session")

			// Sign-out ends every session the browser presents, whatever
			// the scope of its cookie, and expires both scopes when it can.
			resp, body = b.get(a + "/_plexauth/logout")
			expectStatus(t, resp, http.StatusFound, body)
			for _, ck := range []*http.Cookie{old, current} {
				for _, base := range []string{a, bb} {
					resp, body = newSubdomainBrowser(t).get(base+"/", "Cookie", "plex_auth_session="+ck.Value)
					if resp.StatusCode != http.StatusFound {
						t.Errorf("after sign-out, a copy of the cookie set with Domain=%q still opens %s: %d", ck.Domain, base, resp.StatusCode)
					}
				}
			}
			au, _ := url.Parse(a)
			for _, ck := range b.jar.Cookies(au) {
				if ck.Name == "plex_auth_session" && c.expiresBoth {
					t.Errorf("after sign-out the browser still sends a session cookie to a")
				}
			}

			// Signing in again gets the user in, not back to the login page.
			_, resp, body = e.signInAt(b, a, "friend", "/")
			expectStatus(t, resp, http.StatusFound, body)
			resp, body = b.get(a + "/sonarr")
			expectStatus(t, resp, http.StatusOK, body)
		})
	}
}

// A stale cookie the browser sends first (a session ended elsewhere, a
// cookie of another scope) does not hide a live one behind it.
func TestLiveSessionCookieBehindAStaleOneIsUsed(t *testing.T) {
	e := newEnv(t, subdomainSites)
	b := newSubdomainBrowser(t)
	a := subdomainURL("a")
	_, resp, body := e.signInAt(b, a, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	live := responseCookie(resp, "plex_auth_session")
	_, resp, body = e.signInAt(newSubdomainBrowser(t), a, "homie", "/")
	expectStatus(t, resp, http.StatusFound, body)
	ended := responseCookie(resp, "plex_auth_session")
	resp, body = newSubdomainBrowser(t).get(a+"/_plexauth/logout", "Cookie", "plex_auth_session="+ended.Value)
	expectStatus(t, resp, http.StatusFound, body)

	for _, header := range []string{
		"plex_auth_session=" + ended.Value + "; plex_auth_session=" + live.Value,
		"plex_auth_session=garbage; other=1; plex_auth_session=" + live.Value,
	} {
		resp, body = newSubdomainBrowser(t).get(a+"/sonarr", "Cookie", header)
		expectStatus(t, resp, http.StatusOK, body)
		if got := e.up.last().Header.Get("Remote-User"); got != "friend" {
			t.Errorf("Cookie %.40s…: upstream saw Remote-User %q, want friend", header, got)
		}
		if got := e.up.last().Header.Get("Cookie"); strings.Contains(got, "plex_auth_session") {
			t.Errorf("a session cookie reached the upstream: %q", got)
		}
	}
}

// A site with a shorter session_ttl stops admitting a shared sign-in
// sooner than its siblings do; signing out there must still end the
// session for all of them, while a cookie that is not genuine ends nothing.
func TestSignOutOnAStricterSiteEndsTheSessionPastItsTTL(t *testing.T) {
	e := newEnv(t, subdomainSites+`
http://c.example.test:SITEPORT {
	plex_auth {
		server `+machineID+`
		cookie_domain example.test
		session_ttl 1s
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	a, c := subdomainURL("a"), subdomainURL("c")
	_, resp, body := e.signInAt(newSubdomainBrowser(t), a, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	sess := responseCookie(resp, "plex_auth_session")
	copyOf := func(value string) []string {
		return []string{"Cookie", "plex_auth_session=" + value, "Sec-Fetch-Site", "same-origin"}
	}
	status := func(base, value string) int {
		resp, _ := newSubdomainBrowser(t).get(base+"/sonarr", copyOf(value)...)
		return resp.StatusCode
	}
	waitUntil(t, "c's session_ttl to run out", func() bool { return status(c, sess.Value) == http.StatusFound })

	// A tampered copy (one character in the middle changed; the last may
	// carry only padding bits) names no session.
	mid := len(sess.Value) / 2
	flip := byte('A')
	if sess.Value[mid] == flip {
		flip = 'B'
	}
	tampered := sess.Value[:mid] + string(flip) + sess.Value[mid+1:]
	resp, body = newSubdomainBrowser(t).do(http.MethodPost, c+"/_plexauth/logout", nil, copyOf(tampered)...)
	expectStatus(t, resp, http.StatusSeeOther, body)
	if got := status(a, sess.Value); got != http.StatusOK {
		t.Fatalf("a forged cookie's sign-out ended the session: a answers %d, want 200", got)
	}

	resp, body = newSubdomainBrowser(t).do(http.MethodPost, c+"/_plexauth/logout", nil, copyOf(sess.Value)...)
	expectStatus(t, resp, http.StatusSeeOther, body)
	if cleared := responseCookie(resp, "plex_auth_session"); cleared == nil || cleared.MaxAge >= 0 {
		t.Fatalf("logout's session cookie = %v, want it expired", cleared)
	}
	for _, base := range []string{a, subdomainURL("b")} {
		if got := status(base, sess.Value); got != http.StatusFound {
			t.Errorf("after sign-out on the stricter site, a copy of the cookie still gets %d on %s, want 302 to the login page", got, base)
		}
	}
}
