package plexauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// pollJSON asks {prefix}/poll as the login page's script does.
func pollJSON(t *testing.T, b *browser) (*http.Response, flowAnswer) {
	t.Helper()
	resp, body := b.get("/_plexauth/poll", "Accept", "application/json", "Sec-Fetch-Mode", "cors")
	var a flowAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("poll answered %d %q: not JSON", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("poll headers: %v", resp.Header)
	}
	return resp, a
}

// pollUntilSettled polls until the answer is no longer pending. plex.tv is
// asked about a pin at most once a second, so for up to a second after an
// approval the answer is the pending one of the last check.
func pollUntilSettled(t *testing.T, b *browser) (*http.Response, flowAnswer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, a := pollJSON(t, b)
		if a.Status != "pending" || time.Now().After(deadline) {
			return resp, a
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stateCookie is the login state cookie the browser would send to the
// endpoints (its path is the prefix).
func stateCookie(b *browser) *http.Cookie {
	u, _ := url.Parse(siteURL + "/_plexauth/poll")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "plex_auth_session_state" {
			return c
		}
	}
	return nil
}

// startPopup posts to start as the script does and returns the pin code
// from the Plex URL it answers.
func startPopup(t *testing.T, e *env, b *browser, rd string) string {
	t.Helper()
	resp, body := b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {rd}, "popup": {"1"}}, "Accept", "application/json")
	expectStatus(t, resp, http.StatusOK, body)
	var a flowAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Status != "started" {
		t.Fatalf("start popup=1 answered %q", body)
	}
	if !strings.HasPrefix(a.URL, e.plex.AppURL()+"#?") {
		t.Fatalf("popup URL %q is not the Plex sign-in page", a.URL)
	}
	frag, _ := url.ParseQuery(a.URL[len(e.plex.AppURL())+2:])
	if frag.Get("forwardUrl") != "" {
		t.Errorf("popup URL has forwardUrl %q: Plex should close the popup instead", frag.Get("forwardUrl"))
	}
	if stateCookie(b) == nil {
		t.Fatal("start set no state cookie")
	}
	return frag.Get("code")
}

func TestPollWalksThePopupFlow(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	code := startPopup(t, e, b, "/tautulli?x=1")

	resp, a := pollJSON(t, b)
	if resp.StatusCode != http.StatusOK || a.Status != "pending" {
		t.Fatalf("before approval: %d %+v", resp.StatusCode, a)
	}
	if b.cookie("plex_auth_session") != nil || stateCookie(b) == nil {
		t.Fatal("pending poll must keep the state cookie and set no session")
	}

	// Someone else's browser cannot collect this sign-in.
	other := newBrowser(t)
	resp, a = pollJSON(t, other)
	if resp.StatusCode != http.StatusBadRequest || a.Status != "error" {
		t.Fatalf("poll without state cookie: %d %+v", resp.StatusCode, a)
	}

	if err := e.plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	resp, a = pollUntilSettled(t, b)
	if resp.StatusCode != http.StatusOK || a.Status != "ok" || a.Redirect != "/tautulli?x=1" {
		t.Fatalf("after approval: %d %+v", resp.StatusCode, a)
	}
	if b.cookie("plex_auth_session") == nil {
		t.Fatal("the ok answer set no session cookie")
	}
	if stateCookie(b) != nil {
		t.Error("the ok answer left the state cookie")
	}
	if other.cookie("plex_auth_session") != nil {
		t.Error("the other browser got a session")
	}
	resp, body := b.get("/tautulli?x=1")
	expectStatus(t, resp, http.StatusOK, body)
	if got := e.up.last().Header.Get("Remote-User"); got != "friend" {
		t.Errorf("Remote-User = %q", got)
	}

	// The pin is used up: polling again finds no sign-in in progress.
	resp, a = pollJSON(t, b)
	if resp.StatusCode != http.StatusBadRequest || a.Status != "error" {
		t.Errorf("second poll after ok: %d %+v", resp.StatusCode, a)
	}
}

func TestPollOutcomes(t *testing.T) {
	e := newEnv(t, basicSite)

	t.Run("denied names the account", func(t *testing.T) {
		b := newBrowser(t)
		if err := e.plex.Approve(startPopup(t, e, b, "/"), "stranger"); err != nil {
			t.Fatal(err)
		}
		resp, a := pollJSON(t, b)
		if resp.StatusCode != http.StatusForbidden || a.Status != "denied" || a.Account != "stranger" {
			t.Fatalf("%d %+v", resp.StatusCode, a)
		}
		if b.cookie("plex_auth_session") != nil || stateCookie(b) != nil {
			t.Error("denied: no session, and the state cookie cleared")
		}
	})
	t.Run("expired", func(t *testing.T) {
		b := newBrowser(t)
		startPopup(t, e, b, "/")
		e.plex.ExpirePins()
		resp, a := pollJSON(t, b)
		if resp.StatusCode != http.StatusGone || a.Status != "expired" {
			t.Fatalf("%d %+v", resp.StatusCode, a)
		}
	})
	t.Run("forged state cookie", func(t *testing.T) {
		b := newBrowser(t)
		resp, body := b.get("/_plexauth/poll", "Cookie", "plex_auth_session_state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		expectStatus(t, resp, http.StatusBadRequest, body)
		if !strings.Contains(body, `"status":"error"`) {
			t.Errorf("body %q", body)
		}
	})
	t.Run("only GET", func(t *testing.T) {
		resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/poll", url.Values{})
		expectStatus(t, resp, http.StatusMethodNotAllowed, body)
	})
	for _, c := range []struct {
		name   string
		set    func()
		status int
	}{
		{"plex.tv unreachable", func() { e.plex.SetDown(true) }, http.StatusBadGateway},
		{"plex.tv rate limits", func() { e.plex.SetStatus(http.StatusTooManyRequests, 30) }, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() { e.plex.SetDown(false); e.plex.SetStatus(0, 0) }()
			b := newBrowser(t)
			startPopup(t, e, b, "/")
			c.set()
			resp, a := pollJSON(t, b)
			if resp.StatusCode != c.status || a.Status != "error" || a.Message == "" {
				t.Fatalf("%d %+v", resp.StatusCode, a)
			}
			if c.status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "30" {
				t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
			}
			if stateCookie(b) == nil {
				t.Error("a failed check must keep the state cookie, to ask again")
			}

			// start in popup mode answers JSON too.
			resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}, "popup": {"1"}})
			expectStatus(t, resp, c.status, body)
			if !strings.Contains(body, `"status":"error"`) {
				t.Errorf("start popup=1 with plex.tv down: %q", body)
			}
		})
	}
}
