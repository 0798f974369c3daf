package plexauth

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// One sign-in across subdomains, in Chromium with real host names: two
// sites importing one plex_auth snippet with cookie_domain (subdomainSites).

// openAt navigates the main tab to base + path.
func (c *chrome) openAt(base, path string) {
	c.t.Helper()
	c.do(chromedp.Navigate(base + path))
}

// href is the main tab's whole URL.
func (c *chrome) href() string {
	c.t.Helper()
	return eval[string](c, "location.href")
}

// cookiesFor is what Chromium holds for rawURL, by name.
func (c *chrome) cookiesFor(rawURL string) map[string]*network.Cookie {
	c.t.Helper()
	out := map[string]*network.Cookie{}
	c.call(func(ctx context.Context) error {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{rawURL}})
		if err != nil {
			return err
		}
		for _, ck := range res.Cookies {
			out[ck.Name] = ck
		}
		return nil
	})
	return out
}

func TestBrowserOneSignInForEverySubdomain(t *testing.T) {
	e := newEnv(t, subdomainSites)
	c := newChromeResolving(t)
	a, b := subdomainURL("a"), subdomainURL("b")

	// Sign in on a.
	c.openAt(a, deepLink)
	if got := c.location(); !strings.HasPrefix(got, "/_plexauth/login?rd=") {
		t.Fatalf("signed-out visit to a landed on %s, want the login page", got)
	}
	c.approveInPopup(c.clickForPopup("#signin"), "friend")
	c.waitFor("the deep link on a", "location.href === "+jsString(a+deepLink))
	if !e.up.served(strings.TrimPrefix(a, "http://"), deepLink, "friend") {
		t.Fatal("the upstream never served a to friend")
	}
	if ck := c.cookiesFor(b + "/")["plex_auth_session"]; ck == nil || ck.Domain != ".example.test" {
		t.Fatalf("Chromium holds session cookie %+v for b, want one for .example.test", ck)
	}

	// b, never signed in to, lets the same browser through.
	c.openAt(b, "/sonarr")
	if got := c.href(); got != b+"/sonarr" {
		t.Fatalf("signed in on a, b sent the browser to %s", got)
	}
	if !e.up.served(strings.TrimPrefix(b, "http://"), "/sonarr", "friend") {
		t.Fatal("the upstream never served b to friend")
	}

	// Sign out on b; a asks again.
	c.openAt(b, "/_plexauth/logout")
	if got := c.href(); !strings.HasPrefix(got, b+"/_plexauth/login?signed_out=1") {
		t.Fatalf("logout on b went to %s", got)
	}
	if ck := c.cookiesFor(a + "/")["plex_auth_session"]; ck != nil {
		t.Fatalf("after sign-out on b, Chromium still holds %+v for a", ck)
	}
	c.openAt(a, deepLink)
	if got := c.href(); !strings.HasPrefix(got, a+"/_plexauth/login?rd=") {
		t.Fatalf("after sign-out on b, a went to %s, want its login page", got)
	}

	// A return URL to a sibling (redirect_domains .example.test): the
	// sign-in starts on a and ends on b.
	c.openAt(a, "/_plexauth/login?rd="+url.QueryEscape(b+"/x?y=1"))
	c.approveInPopup(c.clickForPopup("#signin"), "homie")
	c.waitFor("the return URL on b", "location.href === "+jsString(b+"/x?y=1"))
	if !e.up.served(strings.TrimPrefix(b, "http://"), "/x?y=1", "homie") {
		t.Fatal("the upstream never served b's return URL to homie")
	}
}
