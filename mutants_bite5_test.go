package plexauth

// Tests for survivors of scripts/mutants.sh over the signed-in hot path as
// it changed (rules.go's kept verdicts, server.go's known server,
// placeholders.go's facts, provision.go's order of them): each fails with
// the line it names changed as the run changed it.

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/ownerlist"
)

// admit keeps what a block's rules said of a session object on it
// (Session.Verdict), one of the block's own Verdicts, and reads it back
// on the next request instead of deciding again (rules.go); another
// block's rules, on the same object, decide for themselves and keep their
// own. In owner mode nothing is kept: the owner's list changes.
func TestAdmitKeepsTheRulesVerdictOnTheSessionOutsideOwnerMode(t *testing.T) {
	lax := ruleHandler([]string{"srv"}, nil, nil)
	lax.keepVerdicts()
	strict := ruleHandler([]string{"srv"}, []string{access.TierOwner}, nil)
	strict.keepVerdicts()
	friend := &Session{UserID: 7, Username: "alice", Servers: map[string]string{"srv": access.TierFriend}}
	friend.Prepare()
	kept := func(h *PlexAuth, tier string, ok bool) {
		t.Helper()
		v := friend.Verdict.Load()
		if v == nil {
			t.Fatal("no verdict kept on the session")
		}
		if v.Judge != h.judgeKey || v.Tier != tier || v.Admitted != ok || !slices.Contains(h.verdicts, v) {
			t.Fatalf("kept %+v, want the block's own verdict %q %v", *v, tier, ok)
		}
	}
	for range 2 {
		if tier, ok := lax.admit(friend); !ok || tier != access.TierFriend {
			t.Fatalf("lax block: %q %v, want friend admitted", tier, ok)
		}
		kept(lax, access.TierFriend, true)
		tier, ok := strict.admit(friend)
		if ok {
			t.Fatalf("the owner-only block admitted a friend as %q (the lax block's verdict answered)", tier)
		}
		kept(strict, tier, false)
	}
	// A session object's facts do not change once a cache holds it; here
	// they do, to show which answers: the verdict kept, not the rules.
	lax.admit(friend)
	friend.Servers = map[string]string{}
	if tier, ok := lax.admit(friend); !ok || tier != access.TierFriend {
		t.Fatalf("second request: %q %v, want the kept verdict (friend admitted), not a new decision", tier, ok)
	}

	owner := ruleHandler([]string{"srv"}, nil, nil)
	owner.owner = ownerlist.Fixed(access.OwnerView{List: ownerFixture()})
	owner.keepVerdicts()
	if owner.judgeKey != nil || owner.verdicts != nil {
		t.Fatalf("owner mode keeps verdicts: %v %v", owner.judgeKey, owner.verdicts)
	}
	carol := &Session{UserID: 3, Username: "carol", Servers: map[string]string{}}
	carol.Prepare()
	if tier, ok := owner.admit(carol); !ok || tier != access.TierFriend {
		t.Fatalf("owner mode: %q %v, want friend admitted", tier, ok)
	}
	if v := carol.Verdict.Load(); v != nil {
		t.Fatalf("owner mode kept %+v on the session", *v)
	}
}

// What Provision leaves for the hot path, on a config with plex_auth on
// one server of two: the server it serves on known (serverOf answers it
// for a request whose context does not say, server.go), that server's
// facts first (factsFor finds them at once), and the Verdicts admit keeps
// on sessions made (rules.go).
func TestProvisionKnowsTheServerPutsItsFactsFirstAndMakesTheVerdicts(t *testing.T) {
	other := freePort(t)
	newEnv(t, `http://localhost:SITEPORT {
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	respond "ok"
}

http://localhost:`+strconv.Itoa(other)+` {
	respond "other"
}`)
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		t.Fatal(err)
	}
	var h *PlexAuth
	var ours *caddyhttp.Server
	for _, srv := range app.(*caddyhttp.App).Servers {
		if slices.ContainsFunc(srv.Listen, func(l string) bool { return strings.HasSuffix(l, ":"+strconv.Itoa(sitePort)) }) {
			ours, h = srv, findPlexAuth(srv.Routes)
		}
	}
	if h == nil {
		t.Fatal("plex_auth not found")
	}
	if h.server != ours {
		t.Errorf("Provision did not know the server: %p, want %p", h.server, ours)
	}
	if got := h.serverOf(httptest.NewRequest("GET", "/", nil)); got != ours {
		t.Errorf("serverOf a request without a server in its context = %p, want the known %p", got, ours)
	}
	if len(h.placeholderFacts) != 2 {
		t.Errorf("facts of %d servers, want 2", len(h.placeholderFacts))
	} else if h.placeholderFacts[0].Server != ours {
		t.Errorf("facts: the first are of %p, want ours (%p) first", h.placeholderFacts[0].Server, ours)
	}
	if h.judgeKey == nil || len(h.verdicts) != 8 {
		t.Errorf("Provision made no Verdicts to keep: judge %p, %d verdicts", h.judgeKey, len(h.verdicts))
	}
}

// The user placeholders' provider answers its own names and no other:
// Caddy asks every provider of the request for every placeholder, so a
// name of another family whose tail reads like a user field
// ({http.request.abid}) must not answer with the user's id, and a name
// shorter than the prefix must not crash the request.
func TestIdentityProviderAnswersOnlyTheUserPlaceholders(t *testing.T) {
	s := &Session{UserID: 42, Username: "alice", Email: "a@example.com", UUID: "u1", Title: "Alice"}
	s.Prepare()
	ri := &requestIdentity{s: s, tier: tierValue(access.TierFriend)}
	for _, key := range []string{"http.request.abid", "http.vars.abcdetier", "host", "", "http.auth.user.", "http.auth.user.idx"} {
		if v, ok := ri.placeholder(key); ok {
			t.Errorf("%q answered %v", key, v)
		}
	}
	if v, ok := ri.placeholder("http.auth.user.id"); !ok || v != "42" {
		t.Errorf("http.auth.user.id = %v, %v; want 42", v, ok)
	}
}

// A server plex_auth learned nothing of at Provision (a handler loaded
// outside an HTTP app, or a server its facts do not hold) gets the old,
// eager way: the placeholders Set on every signed-in request and earlier
// values deleted, the safe assumption where nothing is known.
func TestFactsOfAnUnknownServerAreTheEagerWay(t *testing.T) {
	h := &PlexAuth{}
	for _, srv := range []*caddyhttp.Server{nil, new(caddyhttp.Server)} {
		if f := h.factsFor(srv); !f.MapWrites || !f.MayBeSet {
			t.Errorf("factsFor(%p) = %+v, want a map and an earlier value assumed", srv, *f)
		}
	}
}

// A map writing every user placeholder speaks for none of them: on its
// server plex_auth Sets all six for a signed-in request
// (placeholderfacts.Facts.MapWrites), not only the username.
func TestMapCannotSpeakForAnyUserPlaceholder(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	map {header.X-Who} {http.auth.user.id} {http.auth.user.username} {http.auth.user.email} {http.auth.user.uuid} {http.auth.user.title} {http.auth.user.tier} {
		default intruder intruder intruder intruder intruder intruder
	}
	plex_auth {
		server `+machineID+`
		{PLEX}
	}
	reverse_proxy {UP} {
		header_up X-U-Id {http.auth.user.id}
		header_up X-U-Username {http.auth.user.username}
		header_up X-U-Email {http.auth.user.email}
		header_up X-U-Uuid {http.auth.user.uuid}
		header_up X-U-Title {http.auth.user.title}
		header_up X-U-Tier {http.auth.user.tier}
	}
}`)
	b := e.signedInAs("friend")
	resp, body := b.get("/app/", "X-Who", "admin")
	expectStatus(t, resp, http.StatusOK, body)
	up := e.up.last().Header
	for k, want := range map[string]string{
		"X-U-Username": "friend", "X-U-Email": "friend@example.com", "X-U-Title": "Friend", "X-U-Tier": access.TierFriend,
	} {
		if got := up.Get(k); got != want {
			t.Errorf("upstream got %s %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"X-U-Id", "X-U-Uuid"} {
		if got := up.Get(k); got == "" || got == "intruder" {
			t.Errorf("upstream got %s %q, want the account's", k, got)
		}
	}
}
