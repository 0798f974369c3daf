package plexauth

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// Browser tests of the sign-in limits and of requests from other sites, in
// headless Chromium: what the login page's script makes of a 429, and what
// a real browser sends when another site's page posts to the endpoints.

func TestBrowserStartOverTheLimitSaysHowLongToWait(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	// This browser spends its pin creations as the script would.
	spent := eval[int](c, `(() => {
		let n = 0;
		for (let i = 0; i < 10; i++) {
			const x = new XMLHttpRequest();
			x.open("POST", "/_plexauth/start", false);
			x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
			x.setRequestHeader("Accept", "application/json");
			x.send("rd=%2F&popup=1");
			if (x.status === 200) n++;
		}
		return n;
	})()`)
	if spent != 10 {
		t.Fatalf("%d of 10 starts went through before the limit", spent)
	}
	pins := e.plex.Count("POST", "/api/v2/pins")
	c.openPopup(chromedp.Click(chromedp.CSS("#signin")))
	c.waitFor("the limited message", `!document.querySelector('[data-outcome="limited"]').hidden`)
	c.waitNoPopups("after the start was refused")
	if got := c.text(`[data-outcome="limited"]`); !strings.Contains(got, "Too many sign-in attempts, try again in ") {
		t.Errorf("message = %q", got)
	}
	if c.visible(`[data-outcome="error"]`) || !c.visible("#signin") {
		t.Error("want only the limited message, and the button back")
	}
	if got := e.plex.Count("POST", "/api/v2/pins"); got != pins {
		t.Errorf("the refused start created a pin")
	}

	// Without the popup, the refusal is a page.
	for _, scheme := range []string{"light", "dark"} {
		c.setColorScheme(scheme)
		c.startSameTab()
		if got := c.text("main"); !strings.Contains(got, "Too many sign-in attempts, try again in ") {
			t.Fatalf("same-tab start over the limit: %q", got)
		}
		if v := a11yViolations(t, c); len(v) > 0 {
			t.Errorf("limited page, %s: %d accessibility violation(s):\n  %s", scheme, len(v), strings.Join(v, "\n  "))
		}
	}
}

// A poll refused by the limits is no failure: the page waits as told and
// the sign-in goes on.
func TestBrowserLimitedPollsKeepWaiting(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	var refused atomic.Int32
	// The site's answer to a client over its check budget, for the first
	// three polls.
	err := chromedp.Listen(c.ctx, func(ev any) {
		p, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			defer cancel()
			if refused.Load() < 3 {
				refused.Add(1)
				_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
					RequestID:    p.RequestID,
					ResponseCode: 429,
					ResponseHeaders: []*fetch.HeaderEntry{
						{Name: "Content-Type", Value: "application/json"},
						{Name: "Retry-After", Value: "1"},
					},
					Body: []byte(`{"status":"limited","message":"Too many sign-in attempts, try again in 1 second.","retryAfter":1}`),
				})
				return
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	c.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/_plexauth/poll*"}}})
		return err
	})
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	deadline := time.Now().Add(20 * time.Second)
	for refused.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the page stopped polling after %d limited answers", refused.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !c.visible("[data-waiting]") || c.visible(`[data-outcome="error"]`) {
		t.Fatal("after limited polls the page should still be waiting")
	}
	c.approveInPopup(popup, "friend")
	expectLandedAs(t, c, e, "friend")
}

// A page of another site (the fake Plex's origin is one) posting to the
// endpoints: Chromium marks it cross-site.
func TestBrowserOtherSitesCannotStartOrSignOut(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	c.approveInPopup(c.clickForPopup("#signin"), "friend")
	expectLandedAs(t, c, e, "friend")

	postFromElsewhere := func(path string) {
		c.do(chromedp.Navigate(e.plex.URL + "/"))
		eval[bool](c, `(() => {
			const f = document.createElement("form");
			f.method = "post";
			f.action = `+jsString(siteURL+path)+`;
			const i = document.createElement("input");
			i.type = "hidden"; i.name = "rd"; i.value = "/sonarr";
			f.appendChild(i);
			document.body.appendChild(f);
			f.submit();
			return true;
		})()`)
		c.waitFor("the site's answer", "location.href.indexOf("+jsString(siteURL+path)+") === 0")
	}

	pins := e.plex.Count("POST", "/api/v2/pins")
	postFromElsewhere("/_plexauth/start")
	if got := e.plex.Count("POST", "/api/v2/pins"); got != pins {
		t.Errorf("a start posted from another site created a pin")
	}

	postFromElsewhere("/_plexauth/logout")
	c.do(chromedp.WaitVisible(chromedp.CSS("main form button")))
	if got := c.text("h1"); got != "Sign out?" {
		t.Fatalf("heading = %q", got)
	}
	c.open("/still-in")
	if got := c.location(); got != "/still-in" {
		t.Fatalf("a logout posted from another site signed out: /still-in went to %s", got)
	}

	// The button on that page signs out.
	postFromElsewhere("/_plexauth/logout")
	c.do(chromedp.WaitVisible(chromedp.CSS("main form button")), chromedp.Click(chromedp.CSS("main form button")))
	c.waitFor("the login page", `location.pathname === "/_plexauth/login"`)
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login?signed_out=1&rd=%2Fsonarr") {
		t.Errorf("after Sign out: %s", got)
	}
	c.open("/sonarr")
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login?rd=") {
		t.Errorf("after Sign out /sonarr went to %s", got)
	}
}
