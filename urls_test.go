package plexauth

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// setCookies returns the cookies named name that resp sets or clears.
func setCookies(resp *http.Response, name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// oneSetCookie is the single cookie named name that resp sets (or clears,
// with clear), failing the test otherwise.
func oneSetCookie(t *testing.T, resp *http.Response, name string, clear bool) *http.Cookie {
	t.Helper()
	for _, c := range setCookies(resp, name) {
		if (c.MaxAge < 0) == clear {
			return c
		}
	}
	t.Fatalf("%s %s: no Set-Cookie %s (clear=%v) in %q", resp.Request.Method, resp.Request.URL.Path, name, clear, resp.Header["Set-Cookie"])
	return nil
}

// Behind a TLS-terminating proxy, Caddy speaks plain http and only the
// proxy knows the browser used https. From a proxy Caddy trusts, its
// X-Forwarded-Proto: https must give Secure cookies and an https return
// URL to Plex; from anyone else the header changes nothing.
func TestForwardedHTTPSCountsOnlyFromATrustedProxy(t *testing.T) {
	trusted := "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32 ::1/128\n\t}"
	for _, c := range []struct {
		name, options string
		proto         string // X-Forwarded-Proto sent
		https         bool
	}{
		{"trusted proxy says https", trusted, "https", true},
		{"trusted proxy lists https first", trusted, "HTTPS, http", true},
		{"trusted proxy says http", trusted, "http", false},
		{"trusted proxy sends no header", trusted, "", false},
		{"no trusted proxies", "", "https", false},
		{"client is not among the trusted proxies", "\tservers {\n\t\ttrusted_proxies static 192.0.2.0/24\n\t}", "https", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvWithOptions(t, c.options, basicSite)
			var hdr []string
			if c.proto != "" {
				hdr = []string{"X-Forwarded-Proto", c.proto}
			}
			scheme := "http"
			if c.https {
				scheme = "https"
			}

			// The same-tab start: the state cookie and Plex's forwardUrl.
			resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/x"}}, hdr...)
			expectStatus(t, resp, http.StatusSeeOther, body)
			state := oneSetCookie(t, resp, "plex_auth_session_state", false)
			if state.Secure != c.https {
				t.Errorf("state cookie Secure = %v, want %v", state.Secure, c.https)
			}
			frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(e.plex.AppURL())+2:])
			wantForward := scheme + strings.TrimPrefix(siteURL, "http") + "/_plexauth/callback"
			if got := frag.Get("forwardUrl"); got != wantForward {
				t.Errorf("forwardUrl = %q, want %q", got, wantForward)
			}
			if err := e.plex.Approve(frag.Get("code"), "friend"); err != nil {
				t.Fatal(err)
			}

			// The callback, sending the state cookie by hand: a cookie jar
			// keeps a Secure cookie from a plain http URL.
			resp, body = newBrowser(t).get("/_plexauth/callback", append(hdr, "Cookie", state.Name+"="+state.Value)...)
			expectStatus(t, resp, http.StatusFound, body)
			session := oneSetCookie(t, resp, "plex_auth_session", false)
			if session.Secure != c.https {
				t.Errorf("session cookie Secure = %v, want %v", session.Secure, c.https)
			}
			if cleared := oneSetCookie(t, resp, "plex_auth_session_state", true); cleared.Secure != c.https {
				t.Errorf("state cookie cleared with Secure = %v, want %v", cleared.Secure, c.https)
			}

			// The popup start sets the state cookie the same way.
			resp, body = newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}, "popup": {"1"}}, append(hdr, "Accept", "application/json")...)
			expectStatus(t, resp, http.StatusOK, body)
			if s := oneSetCookie(t, resp, "plex_auth_session_state", false); s.Secure != c.https {
				t.Errorf("popup state cookie Secure = %v, want %v", s.Secure, c.https)
			}

			// Logout clears the session cookie with the attributes it was set with.
			resp, body = newBrowser(t).do(http.MethodPost, "/_plexauth/logout", url.Values{}, append(hdr, "Cookie", session.Name+"="+session.Value)...)
			expectStatus(t, resp, http.StatusSeeOther, body)
			if s := oneSetCookie(t, resp, "plex_auth_session", true); s.Secure != c.https {
				t.Errorf("logout cleared the session cookie with Secure = %v, want %v", s.Secure, c.https)
			}
		})
	}
}

// staysOnHost reports whether ref, a URL the module built from the
// request's path, starts with exactly one "/" and so names a path on the
// site it came from. Browsers read "//x", and "/\x" (a backslash counts as
// a slash in http(s) URLs, and tabs and newlines are dropped), as the host
// x (WHATWG URL Standard, "relative slash state":
// https://url.spec.whatwg.org/#relative-slash-state).
func staysOnHost(ref string) bool {
	ref = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(ref)
	return len(ref) > 0 && ref[0] == '/' && (len(ref) == 1 || (ref[1] != '/' && ref[1] != '\\'))
}

// TestProtocolRelativeRequestPathsStayOnTheHost: under handle_path, a
// request for //tools/x is stripped to /x as /tools/x is. Every Location
// and page URL the module builds from it must start with exactly one "/":
// "//tools/_plexauth/login" is the host "tools" to a browser.
func TestProtocolRelativeRequestPathsStayOnTheHost(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	handle_path /tools/* {
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		reverse_proxy {UP}
	}
}`)
	site, _ := url.Parse(siteURL + "/")
	checkLocation := func(resp *http.Response, wantPrefix string) *url.URL {
		t.Helper()
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, wantPrefix) || !staysOnHost(loc) {
			t.Fatalf("%s %s: Location %q, want one starting %q", resp.Request.Method, resp.Request.URL.Path, loc, wantPrefix)
		}
		u, err := site.Parse(loc)
		if err != nil || u.Host != site.Host {
			t.Fatalf("%s %s: Location %q leads to host %q", resp.Request.Method, resp.Request.URL.Path, loc, u.Host)
		}
		return u
	}
	b := newBrowser(t)
	for _, target := range []string{"//tools/x?a=1", "///tools/x?a=1"} {
		resp, body := b.get(target)
		expectStatus(t, resp, http.StatusFound, body)
		u := checkLocation(resp, "/tools/_plexauth/login?")
		if rd := u.Query().Get("rd"); rd != "/tools/x?a=1" {
			t.Errorf("GET %s: rd %q, want /tools/x?a=1", target, rd)
		}
		resp, body = b.get(target, "Accept", "application/json")
		expectStatus(t, resp, http.StatusUnauthorized, body)
		if got := resp.Header.Get("WWW-Authenticate"); got != `PlexSignIn login="/tools/_plexauth/login"` {
			t.Errorf("GET %s: WWW-Authenticate %q", target, got)
		}
		if !strings.Contains(body, `"login":"/tools/_plexauth/login"`) {
			t.Errorf("GET %s: body %s", target, body)
		}
	}

	resp, body := b.get("//tools/_plexauth/logout")
	expectStatus(t, resp, http.StatusFound, body)
	checkLocation(resp, "/tools/_plexauth/login?signed_out=1")
	resp, body = b.get("//tools/_plexauth/start")
	expectStatus(t, resp, http.StatusSeeOther, body)
	checkLocation(resp, "/tools/_plexauth/login?")

	// The login page's links and form.
	resp, body = b.get("//tools/_plexauth/login?rd=/tools/x")
	expectStatus(t, resp, http.StatusOK, body)
	refs := regexp.MustCompile(`(?:href|src|action|data-poll)="([^"]*)"`).FindAllStringSubmatch(body, -1)
	if len(refs) == 0 {
		t.Fatalf("no URLs on the login page: %.500s", body)
	}
	for _, m := range refs {
		if strings.HasPrefix(m[1], "/") && !strings.HasPrefix(m[1], "/tools/_plexauth/") {
			t.Errorf("login page URL %q, want one under /tools/_plexauth/", m[1])
		}
	}

	// The same-tab start: Plex sends the browser back to a callback on
	// this host, and the state cookie is scoped to where that is.
	resp, body = b.do(http.MethodPost, "//tools/_plexauth/start", url.Values{"rd": {"/tools/x"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(strings.TrimPrefix(resp.Header.Get("Location"), e.plex.AppURL()+"#?"))
	if got, want := frag.Get("forwardUrl"), siteURL+"/tools/_plexauth/callback"; got != want {
		t.Errorf("forwardUrl = %q, want %q", got, want)
	}
	if st := oneSetCookie(t, resp, "plex_auth_session_state", false); st.Path != "/tools/_plexauth/" {
		t.Errorf("state cookie Path %q, want /tools/_plexauth/", st.Path)
	}
	if e.up.count() != 0 {
		t.Fatal("a request without a session reached the upstream")
	}
}
