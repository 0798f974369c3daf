package ownerlist

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// A sign-in goes on only with a list known and nothing wrong with the
// set-up; a set-up needing attention says so (setup), so the page says the
// site's set-up needs attention rather than "try again".
func TestSignInGoesOnOnlyWithAListAndAWorkingSetUp(t *testing.T) {
	list := access.CompileList(1, []access.SharedUser{{ID: 2, Servers: []access.SharedServer{{MachineIdentifier: "srv"}}}}, []string{"srv"})
	for _, c := range []struct {
		name      string
		v         access.OwnerView
		ok, setup bool
	}{
		{"a list", access.OwnerView{List: list}, true, false},
		{"not owned", access.OwnerView{Problem: access.OwnerNotOwned}, false, true},
		{"token rejected, a list kept", access.OwnerView{List: list, Problem: access.OwnerTokenRejected}, false, true},
	} {
		if ok, setup := Fixed(c.v).CanSignIn(); ok != c.ok || setup != c.setup {
			t.Errorf("%s: CanSignIn = %v, %v; want %v, %v", c.name, ok, setup, c.ok, c.setup)
		}
	}
	var none *List
	none.ReadFor(2) // a block without owner_token: nothing to read, no panic
}

// With no list known (plex.tv failing since start, nothing stored), a
// sign-in is refused, and not as a set-up problem: it waits for plex.tv.
func TestSignInWithNoListKnownWaitsForPlex(t *testing.T) {
	plex := ownerPlex(t)
	plex.SetStatus(http.StatusServiceUnavailable, 0)
	ot := startOwnerList(t, plex, plex.Account("owner").Token, t.TempDir(), time.Hour, "srv")
	ot.settled()
	if ok, setup := ot.o.CanSignIn(); ok || setup {
		t.Fatalf("CanSignIn = %v, %v with no list known; want false, false", ok, setup)
	}
}

// ReadFor reads again only for an account not on the list: one on it
// costs plex.tv nothing, and an invitation accepted after the last read is
// seen at once.
func TestReadForReadsOnlyForAnAccountNotOnTheList(t *testing.T) {
	plex := ownerPlex(t)
	ot := startOwnerList(t, plex, plex.Account("owner").Token, t.TempDir(), time.Hour, "srv")
	ot.settled()
	plex.Share("srv", "invitee", plextest.Friend)
	plex.ResetLog()
	ot.o.ReadFor(int64(plex.Account("friend").ID))
	if n := plex.Count("", "/api/*"); n != 0 {
		t.Fatalf("a sign-in by someone on the list read plex.tv %d times", n)
	}
	ot.o.ReadFor(int64(plex.Account("invitee").ID))
	if ot.tier("invitee") != access.TierFriend || plex.Count(http.MethodGet, "/api/users") != 1 {
		t.Fatalf("the invitation accepted after start: tier %q after %d reads, want friend after 1", ot.tier("invitee"), plex.Count(http.MethodGet, "/api/users"))
	}
}
