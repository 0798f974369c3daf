package plexauth

// Tests for survivors of scripts/mutants.sh over the root's sign-in flow,
// rules and URLs (the second round): each fails with the line it names
// changed as the run changed it.

import (
	"net/http"
	"strings"
	"testing"
)

// urls.go:73: a path that is not the original's tail (a rewrite changed
// it, rather than a strip) has no mount path to put back: the module's
// URLs stay at its own prefix, not under a piece of the old path.
func TestMountPathOfARewrittenPathIsEmpty(t *testing.T) {
	for _, c := range []struct{ orig, cur string }{
		{"/tools/long/path", "/x"},
		{"/a/x", "/b"},
		{"/x", "/longer/path"},
	} {
		if got := mountPath(c.orig, c.cur); got != "" {
			t.Errorf("mountPath(%q, %q) = %q, want \"\": nothing was stripped", c.orig, c.cur, got)
		}
	}
}

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

// rules.go:50-65: the start-up line says whom the block admits.
func TestStartLineSaysWhomTheBlockAdmits(t *testing.T) {
	for _, c := range []struct {
		h    PlexAuth
		want string
	}{
		{PlexAuth{AllowAnyPlexUser: true}, "any Plex account"},
		{PlexAuth{Servers: []string{"s1", "s2"}}, "owner, home, friend of server s1, s2"},
		{PlexAuth{Servers: []string{"s1"}, AllowTiers: []string{"home"}}, "home of server s1"},
		{PlexAuth{AllowUsers: []string{"a", "b"}}, "2 account(s) listed in allow_users"},
		{PlexAuth{Servers: []string{"s1"}, AllowUsers: []string{"a"}}, "owner, home, friend of server s1, and only 1 account(s) listed in allow_users"},
	} {
		if got := c.h.describeRules(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.h, got, c.want)
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
	if got := e.up.last().Header.Get("Remote-Groups"); got != tierFriend {
		t.Fatalf("Remote-Groups = %q, want %q", got, tierFriend)
	}
}
