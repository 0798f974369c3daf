package access

import (
	"slices"
	"testing"
)

// allow_users is decided before the servers, and a refusal by it wins over
// every other, the block's own troubles included.
func TestDecideAllowUsersFirst(t *testing.T) {
	users, err := NewAllowList([]string{"3", "Carol", "dave@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{TierOwner: true, TierHome: true, TierFriend: true}
	list := ownerFixture()
	cases := []struct {
		name    string
		rules   Rules
		view    *OwnerView
		facts   Facts
		tier    string
		refusal Refusal
	}{
		{"listed by id, friend on the list", Rules{Users: users, Servers: []string{"srv"}, Tiers: all, Owner: true}, &OwnerView{List: list}, Facts{ID: 3}, TierFriend, ""},
		{"listed, not on the owner's list", Rules{Users: users, Servers: []string{"srv"}, Tiers: all, Owner: true}, &OwnerView{List: list}, Facts{ID: 99, FoldedUsername: "carol"}, "", RefusedNoAccess},
		{"owner of the server, not listed", Rules{Users: users, Servers: []string{"srv"}, Tiers: all, Owner: true}, &OwnerView{List: list}, Facts{ID: 1, FoldedUsername: "owner"}, "", RefusedNotListed},
		{"not listed, block cannot decide", Rules{Users: users, Servers: []string{"srv"}, Tiers: all, Owner: true}, &OwnerView{Problem: OwnerNotOwned}, Facts{ID: 1}, "", RefusedNotListed},
		{"not listed, no list yet", Rules{Users: users, Servers: []string{"srv"}, Tiers: all, Owner: true}, nil, Facts{ID: 1}, "", RefusedNotListed},
		{"listed, block cannot decide", Rules{Users: users, Servers: []string{"srv"}, Tiers: all, Owner: true}, &OwnerView{Problem: OwnerNotOwned}, Facts{ID: 3}, "", RefusedSetup},
		{"listed by email, device owner", Rules{Users: users, Servers: []string{"srv"}, Tiers: all}, nil, Facts{ID: 50, FoldedEmail: "dave@example.com", Devices: map[string]string{"srv": TierOwner}}, TierOwner, ""},
		{"device owner, not listed", Rules{Users: users, Servers: []string{"srv"}, Tiers: all}, nil, Facts{ID: 50, Devices: map[string]string{"srv": TierOwner}}, "", RefusedNotListed},
		{"folded values are compared as given", Rules{Users: users}, nil, Facts{ID: 50, FoldedUsername: "Carol"}, "", RefusedNotListed},
		{"listed, no server: admitted without a tier", Rules{Users: users}, nil, Facts{ID: 50, FoldedUsername: "carol"}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.rules, c.view, c.facts)
			if d.Tier != c.tier || d.Refusal != c.refusal {
				t.Fatalf("decision = %q/%q, want %q/%q", d.Tier, d.Refusal, c.tier, c.refusal)
			}
		})
	}
}

// The decision runs on every signed-in request: it must not allocate.
func TestDecideDoesNotAllocate(t *testing.T) {
	users, _ := NewAllowList([]string{"3", "carol"})
	all := map[string]bool{TierOwner: true, TierHome: true, TierFriend: true}
	view := &OwnerView{List: ownerFixture()}
	devices := map[string]string{"srv": TierFriend, "b": TierHome}
	var d Decision
	n := testing.AllocsPerRun(100, func() {
		d = Decide(Rules{Users: users, Servers: []string{"srv", "srv2"}, Tiers: all, Owner: true}, view, Facts{ID: 3, FoldedUsername: "carol"})
		d = Decide(Rules{Users: users, Servers: []string{"srv", "b"}, Tiers: all}, nil, Facts{ID: 3, Devices: devices})
		d = Decide(Rules{Users: users, Servers: []string{"srv"}, Tiers: all}, nil, Facts{ID: 4})
	})
	if n != 0 || d.Refusal != RefusedNotListed {
		t.Fatalf("%v allocations per run (last decision %+v)", n, d)
	}
}

// Members and NewList are how a list is kept and read back: the list read
// back decides as the one kept.
func TestListMembersRoundTrip(t *testing.T) {
	l := ownerFixture()
	m := l.Members()
	if m.OwnerID != 1 || !slices.IsSorted(m.Home) || !slices.IsSorted(m.Friends) || !slices.IsSorted(m.Pending) {
		t.Fatalf("members %+v", m)
	}
	if !slices.Equal(m.Home, []int64{2, 7}) || !slices.Equal(m.Pending, []int64{5, 11, 12, 13, 1<<62 + 1}) {
		t.Fatalf("members %+v", m)
	}
	back := NewList(m)
	for _, id := range []int64{-3, 0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 99, 1 << 62, 1<<62 + 1} {
		if back.TierOf(id) != l.TierOf(id) {
			t.Errorf("id %d: read back %q, kept %q", id, back.TierOf(id), l.TierOf(id))
		}
		rules := Rules{Servers: []string{"srv"}, Tiers: map[string]bool{TierOwner: true, TierHome: true, TierFriend: true}, Owner: true}
		if a, b := Decide(rules, &OwnerView{List: l}, Facts{ID: id}), Decide(rules, &OwnerView{List: back}, Facts{ID: id}); a != b {
			t.Errorf("id %d: read back %+v, kept %+v", id, b, a)
		}
	}
	if h, f, p := back.Counts(); h != 2 || f != 6 || p != 5 {
		t.Errorf("counts %d %d %d", h, f, p)
	}
	// Ids a store could hold but no list makes are dropped.
	odd := NewList(Members{OwnerID: 1, Home: []int64{0, -1, 8}, Friends: []int64{-2}})
	if odd.TierOf(8) != TierHome || odd.TierOf(-1) != "" || odd.TierOf(-2) != "" {
		t.Errorf("odd list: %+v", odd.Members())
	}
	if m := NewList(Members{}).Members(); m.Home != nil || m.Friends != nil || m.Pending != nil {
		t.Errorf("an empty list's members are %+v, want nil sets (stored as null, as before)", m)
	}
}

func TestTiers(t *testing.T) {
	for tier, rank := range map[string]int{TierOwner: 3, TierHome: 2, TierFriend: 1, "": 0, "admin": 0, "Owner": 0, "owner ": 0} {
		if TierRank(tier) != rank {
			t.Errorf("TierRank(%q) = %d, want %d", tier, TierRank(tier), rank)
		}
	}
	for tier, want := range map[string]bool{"owner": true, "HOME": true, "Friend": true, "": false, "admin": false, " owner": false} {
		if ValidTier(tier) != want {
			t.Errorf("ValidTier(%q) = %v, want %v", tier, !want, want)
		}
	}
}
