package plexauth

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	maphandler "github.com/caddyserver/caddy/v2/modules/caddyhttp/map"
)

// The user placeholders are answered when asked (placeholders.go). These
// tests hold them to what writing them eagerly gave: the Plex identity of
// the innermost plex_auth, never an identity set before it, never a map's.

// TestPlaceholdersAreTheInnermostPlexAuths: a stricter block nested in a
// laxer one decides the placeholders on its routes, tier included.
func TestPlaceholdersAreTheInnermostPlexAuths(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		allow_any_plex_user
		{PLEX}
	}
	handle /admin/* {
		plex_auth {
			server `+machineID+`
			{PLEX}
		}
		respond "inner {http.auth.user.username} tier={http.auth.user.tier}"
	}
	respond "outer {http.auth.user.username} tier={http.auth.user.tier}"
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "homie", "/")
	expectStatus(t, resp, http.StatusFound, body)
	for path, want := range map[string]string{
		"/":          "outer homie tier=",
		"/admin/x":   "inner homie tier=home",
		"/elsewhere": "outer homie tier=",
	} {
		resp, body = b.get(path)
		expectStatus(t, resp, http.StatusOK, body)
		if body != want {
			t.Errorf("GET %s: %q, want %q", path, body, want)
		}
	}
}

// TestPlaceholdersSetBeforePlexAuthDoNotMix: a value set before plex_auth
// ran (vars, or basic_auth in front) must not stand in for the Plex
// account's.
func TestPlaceholdersSetBeforePlexAuthDoNotMix(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	vars http.auth.user.id intruder
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	respond "{http.auth.user.id} {http.auth.user.username} {http.auth.user.email}"
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "owner", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/")
	expectStatus(t, resp, http.StatusOK, body)
	a := e.plex.Account("owner")
	if want := strconv.Itoa(a.ID) + " owner " + a.Email; body != want {
		t.Fatalf("placeholders answered %q, want %q", body, want)
	}
}

// TestMapCannotSpeakForTheSignedInUser: a map handler runs before plex_auth
// in a site block and answers its destinations before any provider added
// after it. One that writes a user placeholder from what the client sends
// must not decide who the user is.
func TestMapCannotSpeakForTheSignedInUser(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	map {header.X-Who} {http.auth.user.username} {
		default intruder
	}
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP} {
		header_up X-Webauth-User {http.auth.user.username}
	}
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/grafana/", "X-Who", "admin")
	expectStatus(t, resp, http.StatusOK, body)
	if got := e.up.last().Header.Get("X-Webauth-User"); got != "friend" {
		t.Fatalf("upstream got X-Webauth-User %q, want friend", got)
	}
}

// TestAccessLogNamesThePlexUser: Caddy's access log reads
// {http.auth.user.id} after the handlers returned; it must find the Plex
// account's id there.
func TestAccessLogNamesThePlexUser(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	e := newEnv(t, `http://localhost:SITEPORT {
	log {
		output file `+logPath+`
		format json
	}
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	respond "ok"
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "homie", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/signed-in-page")
	expectStatus(t, resp, http.StatusOK, body)
	want := strconv.Itoa(e.plex.Account("homie").ID)
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = got[:0]
		data, _ := os.ReadFile(logPath)
		for l := range strings.SplitSeq(string(data), "\n") {
			var line struct {
				UserID  string `json:"user_id"`
				Request struct {
					URI string `json:"uri"`
				} `json:"request"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Request.URI == "/signed-in-page" {
				got = append(got, line.UserID)
			}
		}
		if len(got) > 0 {
			break
		}
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("access log user_id for /signed-in-page: %q, want [%s]", got, want)
	}
}

// TestMapWritingUserPlaceholdersIsFound covers both shapes the walk meets:
// routes already provisioned (modules) and routes still in JSON.
func TestMapWritingUserPlaceholdersIsFound(t *testing.T) {
	typed := func(dests ...string) caddyhttp.RouteList {
		inner := caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{&maphandler.Handler{Destinations: dests}}}}
		return caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: inner}}}}
	}
	raw := func(dests string) caddyhttp.RouteList {
		return caddyhttp.RouteList{{HandlersRaw: []json.RawMessage{json.RawMessage(
			`{"handler":"subroute","routes":[{"handle":[{"handler":"map","source":"{header.X}","destinations":` + dests + `}]}]}`)}}}
	}
	for _, c := range []struct {
		name   string
		routes caddyhttp.RouteList
		want   bool
	}{
		{"provisioned map writing email", typed("http.auth.user.email"), true},
		{"provisioned map writing its own name", typed("my_role"), false},
		{"provisioned map writing another http.auth.user name", typed("http.auth.user.role"), false},
		{"JSON map writing tier", raw(`["{my_role}","{http.auth.user.tier}"]`), true},
		{"JSON map writing its own name", raw(`["{my_role}"]`), false},
		{"JSON without maps", caddyhttp.RouteList{{HandlersRaw: []json.RawMessage{json.RawMessage(`{"handler":"static_response","body":"{http.auth.user.id}"}`)}}}, false},
	} {
		if got := routesWrite(c.routes); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
