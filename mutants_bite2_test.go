package plexauth

// Tests for survivors of scripts/mutants.sh over the root's sign-in flow,
// rules and URLs (the second round): each fails with the line it names
// changed as the run changed it.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
)

// rules.go:77, 79 and Validate: each combination of admission options a
// JSON config may get wrong is refused for what it is, by an error that
// says so, from a config otherwise valid.
func TestValidateRefusesEachBadCombinationForItsReason(t *testing.T) {
	valid := func() PlexAuth {
		return PlexAuth{Servers: []string{machineID}, PlexTVURL: "https://plex.tv", PlexAppURL: "https://app.plex.tv/auth",
			CookieName: "c", Prefix: "/p", SessionTTL: 1, Timeout: 1}
	}
	base := valid()
	if err := base.Validate(); err != nil {
		t.Fatalf("the valid config is refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*PlexAuth)
		want string
	}{
		{"nothing admitted", func(p *PlexAuth) { p.Servers = nil }, "needs server, allow_users or allow_any_plex_user"},
		{"any plus users", func(p *PlexAuth) { p.Servers, p.AllowAnyPlexUser, p.AllowUsers = nil, true, []string{"alice"} }, "allow_any_plex_user cannot be combined"},
		{"any plus server", func(p *PlexAuth) { p.AllowAnyPlexUser = true }, "allow_any_plex_user cannot be combined"},
		{"tiers without server", func(p *PlexAuth) { p.Servers, p.AllowUsers, p.AllowTiers = nil, []string{"alice"}, []string{"owner"} }, "allow_tier needs server"},
		{"owner_token without server", func(p *PlexAuth) { p.Servers, p.AllowUsers, p.OwnerToken = nil, []string{"alice"}, "t" }, "owner_token needs server"},
		{"unknown tier", func(p *PlexAuth) { p.AllowTiers = []string{"owner", "root"} }, `unknown tier "root"`},
		{"server with a bad character", func(p *PlexAuth) { p.Servers = []string{machineID[:39] + "!"} }, `has '!', which no Plex machine identifier has`},
		{"server opening a brace it does not close", func(p *PlexAuth) { p.Servers = []string{"{" + machineID} }, `has '{'`},
		{"server closing a brace it did not open", func(p *PlexAuth) { p.Servers = []string{machineID + "}"} }, `has '}'`},
		{"server too long", func(p *PlexAuth) { p.Servers = []string{strings.Repeat("a", 129)} }, "too short or too long"},
	} {
		p := valid()
		c.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an error saying %q", c.name, err, c.want)
		}
	}
	for _, ok := range []func(*PlexAuth){
		func(p *PlexAuth) { p.Servers = []string{strings.Repeat("a", 16)} },
		func(p *PlexAuth) { p.Servers = []string{strings.Repeat("A", 128)} },
		func(p *PlexAuth) { p.Servers = []string{"0123456789-_abcdefXYZ"} },
		func(p *PlexAuth) { p.Servers, p.AllowUsers = nil, []string{"alice"} },
		func(p *PlexAuth) { p.Servers, p.AllowAnyPlexUser = nil, true },
		func(p *PlexAuth) { p.AllowTiers = []string{"owner", "friend"} },
	} {
		p := valid()
		ok(&p)
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: refused: %v", p, err)
		}
	}
}

// rules.go:91: checkServerID lets a placeholder through, to be expanded;
// the server's id then comes from the environment, as owner_token's and
// secret's do, and the block admits that server's users.
func TestServerGivenAsAPlaceholderIsExpanded(t *testing.T) {
	t.Setenv("PLEXAUTH_TEST_SERVER", machineID)
	e := newEnv(t, strings.Replace(basicSite, "server "+machineID, "server {env.PLEXAUTH_TEST_SERVER}", 1))
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/library")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/library")
	expectStatus(t, resp, http.StatusOK, body)
	if got := e.up.last().Header.Get("Remote-Groups"); got != access.TierFriend {
		t.Fatalf("Remote-Groups = %q, want %q", got, access.TierFriend)
	}
}

// rules.go:44 (decide) and the README's promise: with owner_token, a block
// that cannot decide (here: the token's account does not own the server)
// answers a signed-in request 503, not a refusal as if the account had no
// access.
func TestSignedInRequestToABlockThatCannotDecideGets503(t *testing.T) {
	e := newEnv(t, basicSite)
	// The friend's token passed as the owner's: that account does not own
	// the server.
	e.load(`http://localhost:SITEPORT {
	route /owned/* {
		plex_auth {
			server ` + machineID + `
			owner_token ` + e.plex.Account("friend").Token + `
			{PLEX}
		}
	}
	plex_auth {
		server ` + machineID + `
		{PLEX}
	}
	reverse_proxy {UP}
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/library")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/library")
	expectStatus(t, resp, http.StatusOK, body)
	resp, body = b.get("/owned/x")
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	resp, body = b.get("/owned/x", "Accept", "application/json")
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
}

// copyState gives to the state cookie b holds, as a copy of it
// would be replayed.
func copyState(t *testing.T, b *browser) *browser {
	t.Helper()
	st := stateCookie(b)
	if st == nil {
		t.Fatal("no state cookie to copy")
	}
	c := newBrowser(t)
	u, _ := url.Parse(siteURL + "/_plexauth/")
	c.jar.SetCookies(u, []*http.Cookie{{Name: st.Name, Value: st.Value, Path: "/_plexauth/"}})
	return c
}

// poll.go:57-106: a sign-in that has ended (used, expired, its token
// refused) clears the browser's state cookie, whichever way it ended and
// for a copy of the cookie too; one whose account could not be read
// (plex.tv failing) gives up its claim, so the next poll finishes it.
func TestEndedSignInClearsTheStateCookieEveryWay(t *testing.T) {
	e := newEnv(t, basicSite)
	cleared := func(t *testing.T, b *browser, what string) {
		t.Helper()
		if stateCookie(b) != nil {
			t.Errorf("%s: the state cookie is still there", what)
		}
	}

	t.Run("a copy of a finished sign-in", func(t *testing.T) {
		a := newBrowser(t)
		code := startPopup(t, e, a, "/")
		replay := copyState(t, a)
		if err := e.plex.Approve(code, "friend"); err != nil {
			t.Fatal(err)
		}
		resp, ans := pollJSON(t, a)
		if resp.StatusCode != http.StatusOK || ans.Status != "ok" {
			t.Fatalf("the sign-in: %d %+v", resp.StatusCode, ans)
		}
		// poll.go:230: the JSON is never sniffed as something else.
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("poll's X-Content-Type-Options = %q, want nosniff", got)
		}
		cleared(t, a, "signed in")
		if resp, ans := pollJSON(t, replay); resp.StatusCode != http.StatusBadRequest || ans.Status != "error" || replay.cookie("plex_auth_session") != nil {
			t.Fatalf("the copy: %d %+v", resp.StatusCode, ans)
		}
		cleared(t, replay, "the copy of a finished sign-in")
	})
	t.Run("a copy of an expired sign-in", func(t *testing.T) {
		a := newBrowser(t)
		startPopup(t, e, a, "/")
		replay := copyState(t, a)
		e.plex.ExpirePins()
		if resp, _ := pollJSON(t, a); resp.StatusCode != http.StatusGone {
			t.Fatalf("expired: %d", resp.StatusCode)
		}
		cleared(t, a, "expired")
		if resp, _ := pollJSON(t, replay); resp.StatusCode != http.StatusGone {
			t.Fatalf("the copy of an expired sign-in: %d", resp.StatusCode)
		}
		cleared(t, replay, "the copy of an expired sign-in")
	})
	t.Run("a token plex.tv refuses", func(t *testing.T) {
		a := newBrowser(t)
		code := startPopup(t, e, a, "/")
		if err := e.plex.Approve(code, "homie"); err != nil {
			t.Fatal(err)
		}
		e.plex.SetTokenStatus("homie", http.StatusUnauthorized)
		defer e.plex.SetTokenStatus("homie", 0)
		if resp, ans := pollJSON(t, a); resp.StatusCode != http.StatusGone || ans.Status != "expired" {
			t.Fatalf("refused token: %d %+v", resp.StatusCode, ans)
		}
		cleared(t, a, "a refused token")
	})
	t.Run("the account could not be read", func(t *testing.T) {
		a := newBrowser(t)
		code := startPopup(t, e, a, "/")
		if err := e.plex.Approve(code, "owner"); err != nil {
			t.Fatal(err)
		}
		e.plex.SetTokenStatus("owner", http.StatusServiceUnavailable)
		resp, ans := pollJSON(t, a)
		e.plex.SetTokenStatus("owner", 0)
		if resp.StatusCode != http.StatusServiceUnavailable || ans.Status != "error" || stateCookie(a) == nil {
			t.Fatalf("plex.tv failing: %d %+v, state cookie kept %v", resp.StatusCode, ans, stateCookie(a) != nil)
		}
		if resp, ans := pollJSON(t, a); resp.StatusCode != http.StatusOK || ans.Status != "ok" {
			t.Fatalf("asked again once plex.tv answers: %d %+v, want the sign-in finished", resp.StatusCode, ans)
		}
	})
}
