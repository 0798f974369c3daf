package plexauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Sec-Fetch-Site and Origin as browsers send them for a request from a page
// of this site (siteURL), of a sibling site, of another site, or typed in.
var (
	fromSameOrigin = []string{"Sec-Fetch-Site", "same-origin", "Origin", "SITE"}
	fromSameSite   = []string{"Sec-Fetch-Site", "same-site", "Origin", "http://other.localhost"}
	fromCrossSite  = []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}
	typedIn        = []string{"Sec-Fetch-Site", "none"}
	// Browsers from before 2023 send no Sec-Fetch-Site.
	oldForeignOrigin = []string{"Origin", "https://evil.example"}
	oldOwnOrigin     = []string{"Origin", "SITE"}
	// A form posted from a page with Referrer-Policy: no-referrer, as the
	// module's own pages are, carries Origin: null.
	ownFormNoReferrer = []string{"Sec-Fetch-Site", "same-origin", "Origin", "null"}
)

func siteHeaders(h []string) []string {
	out := append([]string(nil), h...)
	for i := range out {
		if out[i] == "SITE" {
			out[i] = siteURL
		}
	}
	return out
}

func TestCrossSiteStartIsRefusedAndCreatesNothing(t *testing.T) {
	e := newEnv(t, basicSite)
	cases := []struct {
		name string
		hdr  []string
		want int
	}{
		{"same origin", fromSameOrigin, http.StatusSeeOther},
		{"same origin, Origin null", ownFormNoReferrer, http.StatusSeeOther},
		{"same site", fromSameSite, http.StatusSeeOther},
		{"typed in", typedIn, http.StatusSeeOther},
		{"no browser headers", nil, http.StatusSeeOther},
		{"old browser, own Origin", oldOwnOrigin, http.StatusSeeOther},
		{"cross-site", fromCrossSite, http.StatusForbidden},
		{"cross-site without Origin", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"old browser, foreign Origin", oldForeignOrigin, http.StatusForbidden},
		{"old browser, Origin of another port", []string{"Origin", "http://localhost:1"}, http.StatusForbidden},
		{"old browser, garbage Origin", []string{"Origin", "::not a url"}, http.StatusForbidden},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.plex.Count(http.MethodPost, "/api/v2/pins")
			// Each from its own address, so no case spends another's budget.
			b := newBrowserFrom(t, fmt.Sprintf("127.0.1.%d", 10+i))
			resp, body := b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}}, siteHeaders(c.hdr)...)
			expectStatus(t, resp, c.want, body)
			created := e.plex.Count(http.MethodPost, "/api/v2/pins") - before
			if c.want == http.StatusForbidden {
				if created != 0 || stateCookie(b) != nil {
					t.Errorf("refused start created %d pins, state cookie %v", created, stateCookie(b))
				}
			} else if created != 1 || !strings.HasPrefix(resp.Header.Get("Location"), e.plex.AppURL()) {
				t.Errorf("start created %d pins, went to %q", created, resp.Header.Get("Location"))
			}
		})
	}
	t.Run("popup start from another site", func(t *testing.T) {
		resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}, "popup": {"1"}},
			append([]string{"Accept", "application/json"}, fromCrossSite...)...)
		expectStatus(t, resp, http.StatusForbidden, body)
	})
}

var logoutForm = regexp.MustCompile(`<form method="post" action="/_plexauth/logout">\s*<input type="hidden" name="rd" value="/after">`)

func TestCrossSiteLogoutAsksFirst(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	resp, body := e.signIn(b, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)

	for _, c := range []struct {
		name, method string
		hdr          []string
	}{
		{"GET from another site", http.MethodGet, fromCrossSite},
		{"POST from another site", http.MethodPost, fromCrossSite},
		{"POST from an old browser on another site", http.MethodPost, oldForeignOrigin},
	} {
		t.Run(c.name, func(t *testing.T) {
			var form url.Values
			target := "/_plexauth/logout?rd=%2Fafter"
			if c.method == http.MethodPost {
				form, target = url.Values{"rd": {"/after"}}, "/_plexauth/logout"
			}
			resp, body := b.do(c.method, target, form, c.hdr...)
			expectStatus(t, resp, http.StatusOK, body)
			if !logoutForm.MatchString(body) || !strings.Contains(body, ">Sign out</button>") {
				t.Errorf("want a page with a Sign out button posting to logout: %.1500s", body)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "'nonce-") {
				t.Errorf("CSP = %q", csp)
			}
			if b.cookie("plex_auth_session") == nil {
				t.Fatal("a cross-site logout expired the session cookie")
			}
			resp, body = b.get("/still-signed-in")
			expectStatus(t, resp, http.StatusOK, body)
		})
	}

	// The button's own request: a same-origin form post.
	resp, body = b.do(http.MethodPost, "/_plexauth/logout", url.Values{"rd": {"/after"}}, siteHeaders(ownFormNoReferrer)...)
	expectStatus(t, resp, http.StatusSeeOther, body)
	if got := resp.Header.Get("Location"); got != "/_plexauth/login?signed_out=1&rd=%2Fafter" {
		t.Errorf("Location = %q", got)
	}
	resp, body = b.get("/signed-out")
	expectStatus(t, resp, http.StatusFound, body)
}

func TestLogoutFromThisSiteSignsOutAtOnce(t *testing.T) {
	e := newEnv(t, basicSite)
	for _, c := range []struct {
		name, method string
		hdr          []string
	}{
		{"POST same origin", http.MethodPost, fromSameOrigin},
		{"GET same origin", http.MethodGet, fromSameOrigin},
		{"POST same site", http.MethodPost, fromSameSite},
		{"GET typed in", http.MethodGet, typedIn},
		{"GET without browser headers", http.MethodGet, nil},
		{"POST old browser, own Origin", http.MethodPost, oldOwnOrigin},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t)
			resp, body := e.signIn(b, "owner", "/")
			expectStatus(t, resp, http.StatusFound, body)
			var form url.Values
			if c.method == http.MethodPost {
				form = url.Values{}
			}
			resp, body = b.do(c.method, "/_plexauth/logout", form, siteHeaders(c.hdr)...)
			if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout answered %d: %.300s", resp.StatusCode, body)
			}
			resp, body = b.get("/signed-out")
			expectStatus(t, resp, http.StatusFound, body)
		})
	}
}

func TestCrossSiteRule(t *testing.T) {
	for _, c := range []struct {
		name, host, fetchSite, origin string
		want                          bool
	}{
		{"no headers (curl, a typed URL in an old browser)", "example.com", "", "", false},
		{"same-origin", "example.com", "same-origin", "https://example.com", false},
		{"same-site sibling", "app.example.com", "same-site", "https://dash.example.com", false},
		{"typed in, bookmark", "example.com", "none", "", false},
		{"cross-site", "example.com", "cross-site", "https://evil.example", true},
		{"cross-site, no Origin", "example.com", "cross-site", "", true},
		{"cross-site, Origin forged to ours", "example.com", "cross-site", "https://example.com", true},
		{"unknown Sec-Fetch-Site", "example.com", "nonsense", "", true},
		{"Sec-Fetch-Site decides over Origin", "example.com", "same-origin", "null", false},
		{"old browser, own Origin", "example.com", "", "https://example.com", false},
		{"old browser, own Origin, other case", "Example.COM", "", "https://example.com", false},
		{"old browser, own Origin with default port", "example.com", "", "https://example.com:443", false},
		{"old browser, Host with default port", "example.com:80", "", "http://example.com", false},
		{"old browser, http Origin behind TLS proxy", "example.com", "", "http://example.com", false},
		{"old browser, foreign Origin", "example.com", "", "https://evil.example", true},
		{"old browser, other port", "example.com:8443", "", "https://example.com", true},
		{"old browser, suffix trick", "example.com", "", "https://example.com.evil.example", true},
		{"old browser, userinfo trick", "example.com", "", "https://example.com@evil.example", true},
		{"old browser, Origin null", "example.com", "", "null", false},
		{"old browser, garbage Origin", "example.com", "", "::", true},
		{"old browser, Origin without host", "example.com", "", "file://", true},
	} {
		r := httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil)
		r.Host = c.host
		if c.fetchSite != "" {
			r.Header.Set("Sec-Fetch-Site", c.fetchSite)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := crossSite(r); got != c.want {
			t.Errorf("%s: crossSite = %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzCrossSite(f *testing.F) {
	f.Add("example.com", "", "")
	f.Add("example.com", "cross-site", "https://example.com")
	f.Add("example.com:80", "", "http://example.com")
	f.Add("example.com", "", "https://example.com@evil.example")
	f.Add("[::1]:443", "", "https://[::1]")
	f.Fuzz(func(t *testing.T, host, fetchSite, origin string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Host = host
		r.Header["Sec-Fetch-Site"] = []string{fetchSite}
		r.Header["Origin"] = []string{origin}
		got := crossSite(r)
		switch {
		case fetchSite == "cross-site" && !got:
			t.Fatal("Sec-Fetch-Site: cross-site passed")
		case fetchSite == "same-origin" && got:
			t.Fatal("Sec-Fetch-Site: same-origin refused")
		case fetchSite == "" && (origin == "" || origin == "null") && got:
			t.Fatal("no decisive header, refused")
		case fetchSite == "" && origin != "" && origin != "null" && !got:
			// Passed on Origin alone: it must name this very host.
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" || !strings.EqualFold(strings.TrimSuffix(strings.TrimSuffix(u.Host, ":443"), ":80"), strings.TrimSuffix(strings.TrimSuffix(host, ":443"), ":80")) {
				t.Fatalf("Origin %q passed for host %q", origin, host)
			}
		}
	})
}
