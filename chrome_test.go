package plexauth

import (
	"cmp"
	"context"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// A small driver for the browser tests: one headless Chromium per test,
// with helpers that fail the test instead of returning errors, so that the
// tests in browser_test.go read as what a person does.

// chromiumPath is Debian's Chromium, which .ci/run installs;
// PLEXAUTH_CHROMIUM names another one.
var chromiumPath = cmp.Or(os.Getenv("PLEXAUTH_CHROMIUM"), "/usr/bin/chromium")

// chrome is one headless Chromium with a fresh profile, and what its main
// tab wrote to the console.
type chrome struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	popups  map[target.ID]bool
}

// newChrome starts Chromium with the flags every browser test uses, and
// extra ones after them (e.g. newChromeResolving's host mapping).
func newChrome(t *testing.T, extra ...chromedp.ExecAllocatorOption) *chrome {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium at %s (CI installs it): %v", chromiumPath, err)
		}
		t.Skipf("skipping browser test: no Chromium at %s (apt-get install chromium)", chromiumPath)
	}
	// Not chromedp's defaults: those turn the popup blocker off, and the
	// popup flow must get past it.
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	c := &chrome{t: t, ctx: ctx, popups: make(map[target.ID]bool)}
	// The first Run starts the browser; it must not carry a timeout.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string]("navigator.userAgent")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.console = append(c.console, m)
			c.mu.Unlock()
		}
	}()
	// Headless windows never have focus; without this, :focus-visible and
	// focus events would not behave as on a desktop.
	c.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	})
	t.Cleanup(c.expectCleanConsole)
	return c
}

// newChromeResolving is newChrome with every name under example.test
// resolving to 127.0.0.1, so that tests can use real, distinct host names
// (a.example.test, b.example.test) for sites of the in-process Caddy.
func newChromeResolving(t *testing.T) *chrome {
	t.Helper()
	return newChrome(t, chromedp.Flag("host-resolver-rules", "MAP *.example.test 127.0.0.1"))
}

// call runs f with a timeout, failing the test on error.
func (c *chrome) call(f func(ctx context.Context) error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		c.t.Fatal(err)
	}
}

// do runs the actions in the main tab.
func (c *chrome) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	c.call(func(ctx context.Context) error { return chromedp.Do(ctx, steps...) })
}

func (c *chrome) open(path string) {
	c.t.Helper()
	c.do(chromedp.Navigate(siteURL + path))
}

// eval evaluates a JavaScript expression in the main tab.
func eval[T any](c *chrome, expr string) T {
	c.t.Helper()
	var v T
	c.call(func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		return err
	})
	return v
}

// waitFor waits until expr is true in the main tab, across navigations.
func (c *chrome) waitFor(what, expr string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	last, _ = chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + ' :: ' + (document.body ? document.body.innerText.slice(0, 400) : '')"))
	c.t.Fatalf("timed out waiting for %s; page: %s", what, last)
}

// location is the main tab's path and query.
func (c *chrome) location() string {
	c.t.Helper()
	return eval[string](c, "location.pathname + location.search")
}

// visible tells whether the element sel is shown.
func (c *chrome) visible(sel string) bool {
	c.t.Helper()
	return eval[bool](c, `(() => { const e = document.querySelector(`+jsString(sel)+`); return !!e && e.getClientRects().length > 0; })()`)
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	return eval[string](c, `(document.querySelector(`+jsString(sel)+`) || {}).textContent || ""`)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// expectCleanConsole fails the test on a Content-Security-Policy violation
// or an uncaught exception in the main tab: either would mean a page works
// differently in a real browser than its HTML suggests.
func (c *chrome) expectCleanConsole() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.console {
		if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
			c.t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line)
		}
	}
}

// popupTargets counts the open windows other than the main tab.
func (c *chrome) popupTargets() int {
	c.t.Helper()
	var n int
	c.call(func(ctx context.Context) error {
		infos, err := chromedp.Targets(ctx)
		for _, in := range infos {
			if in.Type == "page" && in.OpenerID != "" {
				n++
			}
		}
		return err
	})
	return n
}

// clickForPopup clicks sel in the main tab and returns a context attached
// to the window that the click opens.
func (c *chrome) clickForPopup(sel string) context.Context {
	c.t.Helper()
	return c.actForPopup(chromedp.Click(chromedp.CSS(sel)))
}

func (c *chrome) actForPopup(act chromedp.Action[chromedp.Void]) context.Context {
	c.t.Helper()
	id := c.openPopup(act)
	// The popup opens on about:blank and navigates to Plex at once;
	// attaching in the middle of that navigation fails with "Inspected
	// target navigated or closed", so a few attempts are allowed.
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		// Detach, never close, on cancel: the popup closes itself.
		pctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
		// The first Run attaches for as long as its context lives: give
		// it one without a timeout.
		if _, err = chromedp.Run(pctx, chromedp.Evaluate[bool]("true")); err == nil {
			c.t.Cleanup(cancel)
			return pctx
		}
		cancel()
		if !strings.Contains(err.Error(), "navigated or closed") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("attaching to the popup: %v", err)
	return nil
}

// openPopup runs act in the main tab and returns the id of the window it
// opens, without attaching to it.
func (c *chrome) openPopup(act chromedp.Action[chromedp.Void]) target.ID {
	c.t.Helper()
	c.mu.Lock()
	known := maps.Clone(c.popups)
	c.mu.Unlock()
	// Windows opened before (closing now, so their info changes) are not
	// the new one.
	ch := chromedp.WaitNewTarget(c.ctx, func(info *target.Info) bool {
		return info.Type == "page" && !known[info.TargetID]
	})
	c.do(act)
	select {
	case id, ok := <-ch:
		if !ok {
			c.t.Fatal("no popup target")
		}
		c.mu.Lock()
		c.popups[id] = true
		c.mu.Unlock()
		return id
	case <-time.After(10 * time.Second):
		c.t.Fatal("no popup opened")
	}
	return ""
}

// waitNoPopups waits until every popup has closed.
func (c *chrome) waitNoPopups(why string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.popupTargets() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := c.popupTargets(); n != 0 {
		c.t.Errorf("%d popup(s) still open %s", n, why)
	}
}

// approveInPopup picks account on the fake Plex sign-in page in the popup.
func (c *chrome) approveInPopup(pctx context.Context, account string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(pctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"]`)),
		chromedp.Click(chromedp.CSS("#continue-"+account)),
	); err != nil {
		c.t.Fatalf("in the Plex popup: %v; popup: %s", err, describe(pctx))
	}
}

// waitPopupOnPlex waits until the popup shows the Plex sign-in page.
func (c *chrome) waitPopupOnPlex(pctx context.Context) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(pctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"]`))); err != nil {
		c.t.Fatalf("the popup never showed Plex's sign-in: %v; popup: %s", err, describe(pctx))
	}
}

// setColorScheme emulates prefers-color-scheme.
func (c *chrome) setColorScheme(scheme string) {
	c.t.Helper()
	c.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// describe tells where a tab is and what it shows, for failure messages.
func describe(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " [" + (document.body ? document.body.getAttribute("data-state") + "] " + document.body.innerText.slice(0, 300) : "")`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// startSameTab posts the login page's form in the main tab without the
// script's popup (form.submit() fires no submit event): the same-tab
// sign-in, as with popups blocked. A GET of start creates no pin.
func (c *chrome) startSameTab() {
	c.t.Helper()
	c.open("/_plexauth/login?rd=%2F")
	eval[bool](c, `(document.querySelector("form[data-poll]").submit(), true)`)
	// The new page's path is there as soon as its navigation commits,
	// before its HTML is parsed: wait for the document too.
	c.waitFor("the answer to start", `location.pathname !== "/_plexauth/login" && document.readyState !== "loading"`)
}
