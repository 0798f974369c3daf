package plexauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWhoamiSaysWhoIsSignedIn(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	b := newBrowser(t)
	resp, body := b.get("/_plexauth/whoami", "Accept", "application/json")
	expectStatus(t, resp, http.StatusUnauthorized, body)
	if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error"`) {
		t.Fatalf("401 answered %q as %s, want JSON", body, resp.Header.Get("Content-Type"))
	}
	resp, body = e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/_plexauth/whoami")
	expectStatus(t, resp, http.StatusOK, body)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", cc)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	a := e.plex.Account("friend")
	for k, want := range map[string]any{"id": float64(a.ID), "uuid": a.UUID, "username": a.Username, "title": a.Title, "email": a.Email, "tier": "friend"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	exp, err := time.Parse(time.RFC3339, got["expires"].(string))
	if err != nil || time.Until(exp) < 167*time.Hour || time.Until(exp) > 169*time.Hour {
		t.Errorf("expires %v, want in the session_ttl's 168h", got["expires"])
	}
	if len(got) != 7 || strings.Contains(body, a.Token) {
		t.Fatalf("whoami answered more than who: %s", body)
	}
	// A signed-in account this block refuses is not admitted here.
	s := newBrowser(t)
	resp, body = e.signIn(s, "stranger", "/")
	expectStatus(t, resp, http.StatusForbidden, body)
	resp, body = s.get("/_plexauth/whoami")
	expectStatus(t, resp, http.StatusUnauthorized, body)
}

// The recipes of docs/recipes.md for applications that trust a header from
// the proxy: each gets the header it reads, with the signed-in username,
// whatever the client sent under that name.
func TestHeaderRecipesGiveTheHeaderTheAppReads(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP} {
		header_up X-WEBAUTH-USER {http.auth.user.username}
	}
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/api/user", "X-WEBAUTH-USER", "admin", "Remote-User", "admin", "Remote_User", "admin")
	expectStatus(t, resp, http.StatusOK, body)
	r := e.up.last()
	for _, c := range []struct{ app, header string }{
		{"Grafana auth.proxy", "X-Webauth-User"},
		{"Navidrome ReverseProxyUserHeader, Calibre-Web, Paperless-ngx HTTP_REMOTE_USER", "Remote-User"},
	} {
		if got := r.Header.Values(c.header); len(got) != 1 || got[0] != "friend" {
			t.Errorf("%s: the upstream got %s %q, want only friend", c.app, c.header, got)
		}
	}
	if v, ok := r.Header["Remote_User"]; ok {
		t.Errorf("the client's Remote_User (HTTP_REMOTE_USER to a WSGI app) went on: %q", v)
	}
}
