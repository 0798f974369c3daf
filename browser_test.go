package plexauth

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// These tests drive Debian's Chromium, headless, through the sign-in flows
// against a real Caddy (newEnv), the fake plex.tv (whose /auth page stands in
// for Plex's sign-in page) and the stand-in upstream: what a person clicking
// through would see.

// screenshotDir receives the screenshots of every run; with -update-docs
// the screenshots in docs/ (docs/sign-in.md shows them) are replaced too
// (font rendering varies between machines, so they change only when asked).
const screenshotDir = "testoutput"

var updateDocs = flag.Bool("update-docs", false, "replace the screenshots in docs/ with this run's")

// deepLink is the page first asked for, where every successful sign-in must
// land.
const deepLink = "/tautulli/library?section=2&sort=added"

// toLogin opens the deep link signed out and checks the login page took
// the browser there.
func (c *chrome) toLogin() {
	c.t.Helper()
	c.open(deepLink)
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login?rd=") {
		c.t.Fatalf("signed-out visit to %s landed on %s, want the login page", deepLink, got)
	}
	c.do(chromedp.WaitVisible(chromedp.CSS("#signin")))
}

// expectLandedAs checks the main tab landed on the deep link and the
// upstream served it to account.
func expectLandedAs(t *testing.T, c *chrome, e *env, account string) {
	t.Helper()
	c.waitFor("the deep link", "location.pathname + location.search === "+jsString(deepLink))
	e.up.mu.Lock()
	defer e.up.mu.Unlock()
	for _, r := range e.up.seen {
		if r.URL.RequestURI() == deepLink && r.Header.Get("Remote-User") == account {
			return
		}
	}
	t.Fatalf("upstream never served %s to %s", deepLink, account)
}

func TestBrowserPopupSignInLandsOnDeepLink(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()

	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	// The login page stays where it is and waits; the popup did the moving.
	if !c.visible("[data-waiting]") || c.visible("form[data-poll]") {
		t.Error("while the popup is open the login page should show it is waiting")
	}
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login") {
		t.Errorf("the login tab navigated to %s while the popup was open", got)
	}
	c.approveInPopup(popup, "friend")

	expectLandedAs(t, c, e, "friend")
	c.waitNoPopups("after sign-in")
	// Signed in: the next page needs no sign-in.
	c.open("/sonarr")
	if got := c.location(); got != "/sonarr" {
		t.Errorf("after sign-in /sonarr went to %s", got)
	}
}

func TestBrowserSameTabWhenPopupBlocked(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	// A popup blocker that lets the page run but refuses every window.
	c.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: "window.open = function () { return null; };",
		})
		return err
	})
	c.toLogin()
	c.do(chromedp.Click(chromedp.CSS("#signin")))
	c.waitFor("the Plex sign-in page in the same tab", `document.body && document.body.getAttribute("data-state") === "ready"`)
	if !strings.HasPrefix(eval[string](c, "location.href"), e.plex.AppURL()) {
		t.Fatalf("the tab went to %s, want Plex's sign-in page", eval[string](c, "location.href"))
	}
	c.do(chromedp.Click(chromedp.CSS("#continue-homie")))
	expectLandedAs(t, c, e, "homie")
	if n := c.popupTargets(); n != 0 {
		t.Errorf("%d popup(s) opened although window.open was blocked", n)
	}
}

func TestBrowserWithoutJavaScript(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	setScripts := func(on bool) {
		c.call(func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
			return err
		})
	}
	setScripts(false)
	c.toLogin()
	if c.visible("[data-waiting]") || !c.visible("#signin") {
		t.Fatal("without JavaScript the login page should show the plain sign-in button")
	}
	c.do(chromedp.Click(chromedp.CSS("#signin")))
	c.waitFor("Plex's sign-in page", "location.href.indexOf("+jsString(e.plex.AppURL())+") === 0")
	// Plex's own page needs JavaScript, as the real one does: the user
	// allows it there.
	setScripts(true)
	c.do(chromedp.Reload())
	c.do(chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"]`)), chromedp.Click(chromedp.CSS("#continue-owner")))
	setScripts(false)
	expectLandedAs(t, c, e, "owner")
}

func TestBrowserPhoneViewportHasNoHorizontalScroll(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	for _, width := range []int64{320, 375} {
		c.do(chromedp.EmulateViewport(width, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		for _, p := range serverPages(t, c, e) {
			p.show()
			if over := eval[bool](c, "document.documentElement.scrollWidth > window.innerWidth"); over {
				t.Errorf("%s at %dpx scrolls sideways: scrollWidth %d > %d", p.name, width,
					eval[int](c, "document.documentElement.scrollWidth"), eval[int](c, "window.innerWidth"))
			}
			if !c.visible("h1") {
				t.Errorf("%s at %dpx: heading not visible", p.name, width)
			}
		}
	}
	// And the popup flow works at phone size.
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.approveInPopup(popup, "friend")
	expectLandedAs(t, c, e, "friend")
}

func TestBrowserDeniedAccountIsNamedAndGetsNoSession(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.approveInPopup(popup, "stranger")
	c.waitFor("the denied message", `!document.querySelector('[data-outcome="denied"]').hidden`)
	if got := c.text(`[data-outcome="denied"]`); !strings.Contains(got, "stranger") || !strings.Contains(got, "Media Tools") {
		t.Errorf("denied message = %q, want the account and the site named", got)
	}
	if got := c.text("#signin"); !strings.Contains(got, "another account") {
		t.Errorf("button after denial = %q, want an offer to use another account", got)
	}
	if !eval[bool](c, "document.activeElement && document.activeElement.id === 'signin'") {
		t.Error("focus should return to the sign-in button")
	}
	c.open(deepLink)
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login") {
		t.Errorf("a refused account reached %s", got)
	}
	if e.up.count() != 0 {
		t.Error("a refused account reached the upstream")
	}
}

func TestBrowserExpiredPinSaysSoAndClosesPopup(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	e.plex.ExpirePins()
	c.waitFor("the expired message", `!document.querySelector('[data-outcome="expired"]').hidden`)
	if !c.visible("#signin") || c.visible("[data-waiting]") {
		t.Error("after expiry the sign-in button should be back")
	}
	c.waitNoPopups("after the pin expired")
	// Trying again works.
	popup = c.clickForPopup("#signin")
	c.approveInPopup(popup, "owner")
	expectLandedAs(t, c, e, "owner")
}

func TestBrowserPlexDownShowsMessage(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)

	t.Run("before the popup reaches Plex", func(t *testing.T) {
		c.toLogin()
		e.plex.SetDown(true)
		defer e.plex.SetDown(false)
		c.openPopup(chromedp.Click(chromedp.CSS("#signin")))
		c.waitFor("the unreachable message", `!document.querySelector('[data-outcome="error"]').hidden`)
		c.waitNoPopups("after start failed")
		if got := c.text(`[data-outcome="error"]`); !strings.Contains(got, "plex.tv is having trouble") {
			t.Errorf("message = %q", got)
		}
	})
	t.Run("while waiting", func(t *testing.T) {
		c.toLogin()
		popup := c.clickForPopup("#signin")
		c.waitPopupOnPlex(popup)
		e.plex.SetDown(true)
		defer e.plex.SetDown(false)
		c.waitFor("the unreachable message", `!document.querySelector('[data-outcome="error"]').hidden`)
		c.waitNoPopups("after plex.tv went down")
	})
	t.Run("same tab", func(t *testing.T) {
		e.plex.SetDown(true)
		defer e.plex.SetDown(false)
		c.startSameTab()
		if got := c.text("h1"); got != "Plex is having trouble" {
			t.Errorf("heading = %q", got)
		}
	})
}

// waitUntil waits for a condition outside the browser, such as what the
// fake plex.tv has seen.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// popupEval evaluates a JavaScript expression in the popup.
func popupEval[T any](t *testing.T, pctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(pctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("in the popup: %v", err)
	}
	return v
}

// pinChecksPastGivingUp is how many checks of the pin at plex.tv show the
// login page kept waiting: the script this replaced asked four times once
// the popup read closed, then gave up.
const pinChecksPastGivingUp = 5

// expectStillWaiting waits until plex.tv has been asked about the pin
// pinChecksPastGivingUp times, and checks the login page is still waiting,
// offering to continue in this tab.
func expectStillWaiting(t *testing.T, c *chrome, e *env) {
	t.Helper()
	waitUntil(t, "the login page to keep checking the pin", func() bool {
		return e.plex.Count(http.MethodGet, "/api/v2/pins/*") >= pinChecksPastGivingUp
	})
	if c.visible(`[data-outcome="closed"]`) || !c.visible("[data-waiting]") || c.visible("#signin") {
		t.Fatalf("the login page stopped waiting for the pin: %s", c.text("main"))
	}
	c.waitFor("the offer to continue in this tab", `(() => { const b = document.querySelector("#same-tab"); return b && b.getClientRects().length > 0; })()`)
}

// Under Cross-Origin-Opener-Policy the login page loses its handle on the
// popup (popup.closed reads true) while the user is still on Plex; the
// approval must still sign the user in.
func TestBrowserPopupUnderOpenerPolicyLandsOnDeepLink(t *testing.T) {
	e := newEnv(t, basicSite)
	e.plex.SetOpenerPolicy("same-origin")
	c := newChrome(t)
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	// Without this the test would prove nothing: the popup is in a
	// browsing context group of its own, cut off from the login page.
	if !popupEval[bool](t, popup, "window.opener === null") {
		t.Fatal("the Plex page still has its opener: Cross-Origin-Opener-Policy is not in force")
	}
	expectStillWaiting(t, c, e)
	c.approveInPopup(popup, "friend")
	expectLandedAs(t, c, e, "friend")
}

// A popup the user closed looks the same as one under COOP, so the page
// keeps waiting, offers to continue in this tab, and stops when the pin
// expires.
func TestBrowserClosedPopupKeepsWaitingUntilThePinExpires(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	ctx, cancel := context.WithTimeout(popup, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.close(), true")); err != nil {
		t.Fatal(err)
	}
	c.waitNoPopups("after the user closed it")
	expectStillWaiting(t, c, e)

	e.plex.ExpirePins()
	c.waitFor("the expired message", `!document.querySelector('[data-outcome="expired"]').hidden`)
	if !c.visible("#signin") || c.visible("[data-waiting]") || c.visible("#same-tab") {
		t.Error("after expiry the sign-in button should be back, and nothing else of the wait")
	}
}

// The state cookie lives as long as the pin: a page that was told pending
// and then finds the cookie gone says the sign-in expired, not that cookies
// are off.
func TestBrowserStateCookieGoneMidWaitReadsAsExpired(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	waitUntil(t, "a pending answer", func() bool { return e.plex.Count(http.MethodGet, "/api/v2/pins/*") >= 1 })
	c.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: "plex_auth_session_state", URL: siteURL + "/_plexauth/poll"})
		return err
	})
	c.waitFor("the expired message", `!document.querySelector('[data-outcome="expired"]').hidden`)
	if c.visible(`[data-outcome="badstate"]`) {
		t.Error("a sign-in that lost its state cookie mid-wait was reported as cookies being off")
	}
}

func TestBrowserContinueInThisTabSignsInWithoutThePopup(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	popup := c.clickForPopup("#signin")
	c.waitPopupOnPlex(popup)
	c.waitFor("the offer to continue in this tab", `(() => { const b = document.querySelector("#same-tab"); return b && b.getClientRects().length > 0; })()`)
	c.do(chromedp.Click(chromedp.CSS("#same-tab")))
	c.waitFor("the Plex sign-in page in this tab", `document.body && document.body.getAttribute("data-state") === "ready"`)
	if got := eval[string](c, "location.href"); !strings.HasPrefix(got, e.plex.AppURL()) || !strings.Contains(got, "forwardUrl=") {
		t.Fatalf("the tab went to %s, want Plex's sign-in page with a way back", got)
	}
	c.waitNoPopups("once the sign-in moved to this tab")
	c.do(chromedp.Click(chromedp.CSS("#continue-homie")))
	expectLandedAs(t, c, e, "homie")
}

func TestBrowserLogoutSignsOut(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	c.toLogin()
	c.approveInPopup(c.clickForPopup("#signin"), "friend")
	expectLandedAs(t, c, e, "friend")

	c.open("/_plexauth/logout")
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login?signed_out=1") {
		t.Fatalf("logout went to %s", got)
	}
	if !strings.Contains(c.text("main"), "You are signed out") {
		t.Error("the login page should say the user is signed out")
	}
	before := e.up.count()
	c.open(deepLink)
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login?rd=") || e.up.count() != before {
		t.Errorf("after logout %s went to %s", deepLink, got)
	}
}

// serverPage is one state of the module's pages, and how to bring the main
// tab to it.
type serverPage struct {
	name string
	show func()
}

// serverPages lists every page the module serves, each reached the way a
// user reaches it.
func serverPages(t *testing.T, c *chrome, e *env) []serverPage {
	return []serverPage{
		{"login", func() { c.open("/_plexauth/login?rd=" + "%2F") }},
		{"signed out", func() { c.open("/_plexauth/login?signed_out=1&rd=%2F") }},
		{"denied message", func() {
			c.open("/_plexauth/login?rd=%2F")
			eval[bool](c, `(() => { const d = document.querySelector('[data-outcome="denied"]'); d.hidden = false; d.querySelector('[data-account]').textContent = "stranger"; return true; })()`)
		}},
		{"waiting", func() {
			c.startSameTab()
			c.open("/_plexauth/callback")
		}},
		{"denied", func() {
			c.startSameTab()
			c.do(chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"]`)), chromedp.Click(chromedp.CSS("#continue-stranger")))
			c.waitFor("the denied page", `location.pathname === "/_plexauth/callback" && document.querySelector("h1")`)
		}},
		{"expired", func() {
			c.startSameTab()
			e.plex.ExpirePins()
			c.open("/_plexauth/callback")
		}},
		{"unavailable", func() {
			e.plex.SetDown(true)
			defer e.plex.SetDown(false)
			c.startSameTab()
		}},
		{"badstate", func() { c.open("/_plexauth/callback") }},
		{"waiting for the popup", func() {
			// The wait, with "Continue in this tab" shown, as the script
			// leaves it a few seconds after the popup opened.
			c.open("/_plexauth/login?rd=%2F")
			eval[bool](c, `(() => { document.querySelector("form[data-poll]").hidden = true; document.querySelector("[data-waiting]").hidden = false; for (const e of document.querySelectorAll("[data-same-tab]")) e.hidden = false; return true; })()`)
		}},
		{"logout from another site", func() {
			c.do(chromedp.Navigate(e.plex.URL + "/"))
			eval[bool](c, `(location.href = `+jsString(siteURL+"/_plexauth/logout?rd=%2F")+`, true)`)
			c.waitFor("the sign-out page", `location.pathname === "/_plexauth/logout" && document.querySelector("main form button")`)
		}},
	}
}

func a11yViolations(t *testing.T, c *chrome) []string {
	t.Helper()
	check, err := os.ReadFile("testdata/a11ycheck.js")
	if err != nil {
		t.Fatal(err)
	}
	return eval[[]string](c, string(check))
}

func TestBrowserAccessibilityOfEveryPage(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	for _, scheme := range []string{"light", "dark"} {
		c.setColorScheme(scheme)
		for _, p := range serverPages(t, c, e) {
			p.show()
			if v := a11yViolations(t, c); len(v) > 0 {
				t.Errorf("%s page, %s: %d accessibility violation(s):\n  %s", p.name, scheme, len(v), strings.Join(v, "\n  "))
			}
		}
	}
}

func TestBrowserLoginPageWorksByKeyboard(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	for _, scheme := range []string{"light", "dark"} {
		c.setColorScheme(scheme)
		c.toLogin()
		c.do(chromedp.KeyEvent(kb.Tab))
		if got := eval[string](c, "document.activeElement.id"); got != "signin" {
			t.Fatalf("%s: the first Tab focused %q, want the sign-in button", scheme, got)
		}
		// With focus on the button, the check includes its focus ring.
		if v := a11yViolations(t, c); len(v) > 0 {
			t.Errorf("%s, button focused: %s", scheme, strings.Join(v, "; "))
		}
		if !eval[bool](c, `document.activeElement.matches(":focus-visible")`) {
			t.Errorf("%s: keyboard focus is not :focus-visible", scheme)
		}
	}

	// Enter opens the popup, focus moves to Cancel, Enter cancels.
	popup := c.actForPopup(chromedp.KeyEvent(kb.Enter))
	c.waitPopupOnPlex(popup)
	c.waitFor("focus on Cancel", `document.activeElement && document.activeElement.hasAttribute("data-cancel")`)
	c.do(chromedp.KeyEvent(kb.Enter))
	c.waitFor("the sign-in button back with focus", `document.activeElement && document.activeElement.id === "signin"`)
	c.waitNoPopups("after Cancel")
	// And Enter again signs in.
	popup = c.actForPopup(chromedp.KeyEvent(kb.Enter))
	c.approveInPopup(popup, "homie")
	expectLandedAs(t, c, e, "homie")
}

func TestBrowserLoginTitleAndLogoFile(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "den.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="48" viewBox="0 0 120 48"><rect width="120" height="48" rx="10" fill="#7c3aed"/><text x="60" y="31" font-size="18" text-anchor="middle" fill="#fff" font-family="sans-serif">DEN</text></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o644); err != nil {
		t.Fatal(err)
	}
	site := strings.Replace(basicSite, "{PLEX}", "{PLEX}\n\t\tlogin_title \"Welcome to the Den\"\n\t\tlogin_logo "+logo, 1)
	newEnv(t, site)
	c := newChrome(t)
	c.open("/_plexauth/login?rd=%2F")
	if got := c.text("h1"); got != "Welcome to the Den" {
		t.Errorf("heading = %q, want the login_title", got)
	}
	c.waitFor("the logo to load", `(() => { const i = document.querySelector("img.logo"); return i && i.complete && i.naturalWidth > 0; })()`)
	if !strings.Contains(c.text("main"), "Media Tools") {
		t.Error("the product name should still be on the page")
	}
}

// TestBrowserScreenshots takes the documents' screenshots of the login page,
// and one of every page for a person to look over, into testoutput/.
func TestBrowserScreenshots(t *testing.T) {
	e := newEnv(t, basicSite)
	c := newChrome(t)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shoot := func(file string) {
		t.Helper()
		var png []byte
		c.call(func(ctx context.Context) error {
			var err error
			png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
			return err
		})
		if err := os.WriteFile(filepath.Join(screenshotDir, file), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if *updateDocs && strings.HasPrefix(file, "login-") {
			if err := os.WriteFile(filepath.Join("docs", file), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []struct {
		file          string
		width, height int64
		scale         float64
		mobile        bool
		scheme        string
	}{
		{"login-desktop.png", 1280, 800, 1, false, "light"},
		{"login-phone.png", 375, 667, 2, true, "light"},
		{"login-dark.png", 1280, 800, 1, false, "dark"},
	} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(s.scale)}
		if s.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		c.do(chromedp.EmulateViewport(s.width, s.height, opts...))
		c.setColorScheme(s.scheme)
		c.open("/_plexauth/login?rd=" + strings.ReplaceAll(deepLink, "&", "%26"))
		c.do(chromedp.WaitVisible(chromedp.CSS("#signin")))
		shoot(s.file)
	}
	c.do(chromedp.EmulateViewport(1280, 800))
	for _, scheme := range []string{"light", "dark"} {
		c.setColorScheme(scheme)
		for _, p := range serverPages(t, c, e) {
			p.show()
			shoot("page-" + strings.ReplaceAll(p.name, " ", "-") + "-" + scheme + ".png")
		}
		c.toLogin()
		popup := c.clickForPopup("#signin")
		c.waitPopupOnPlex(popup)
		shoot("page-popup-waiting-" + scheme + ".png")
		c.do(chromedp.Click(chromedp.CSS("[data-cancel]")))
	}
}
