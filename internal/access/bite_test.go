package access

import (
	"slices"
	"testing"
	"unsafe"
)

// Tests written for survivors of a mutation run (scripts/mutants.sh).

// allowusers.go (allDigits, FoldASCII): only digits make an account id, and every
// ASCII capital folds, Z included.
func TestAllowUsersShapesAndFolding(t *testing.T) {
	for _, s := range []string{"-12", "1.5", "+7", "12 ", " 12", "1/2"} {
		if allDigits(s) {
			t.Errorf("%q taken for an account id", s)
		}
	}
	for in, want := range map[string]string{"Zed": "zed", "ZZ": "zz", "aZ": "az", "Adam": "adam", "Z9_z": "z9_z"} {
		if got := FoldASCII(in); got != want {
			t.Errorf("FoldASCII(%q) = %q, want %q", in, got, want)
		}
	}
	l, err := NewAllowList([]string{"Zed"})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Admits(5, "zED", "") {
		t.Error("allow_users Zed does not admit the username zED (ASCII case is ignored)")
	}
}

// Decide: an account on several of the block's servers gets its
// highest admitted tier there, whichever server the block names first.
func TestAccountOnSeveralServersGetsItsHighestAdmittedTier(t *testing.T) {
	all := map[string]bool{TierOwner: true, TierHome: true, TierFriend: true}
	facts := Facts{ID: 7, Devices: map[string]string{"a": TierOwner, "b": TierHome, "c": TierFriend}}
	for _, c := range []struct {
		servers []string
		tiers   map[string]bool
		want    string
	}{
		{[]string{"a", "b", "c"}, all, TierOwner},
		{[]string{"c", "b", "a"}, all, TierOwner},
		{[]string{"c", "a", "b"}, all, TierOwner},
		{[]string{"c", "b"}, all, TierHome},
		{[]string{"b", "a", "c"}, map[string]bool{TierHome: true, TierFriend: true}, TierHome},
	} {
		if d := Decide(Rules{Servers: c.servers, Tiers: c.tiers}, nil, facts); d.Tier != c.want {
			t.Errorf("servers %v, tiers %v: tier %q (refusal %v), want %q", c.servers, c.tiers, d.Tier, d.Refusal, c.want)
		}
	}
}

// FoldASCII returns a string without ASCII capitals as it is, not a copy:
// Admits folds on every signed-in request (allowusers.go).
func TestFoldASCIIReturnsItsArgumentWithoutCapitals(t *testing.T) {
	for _, s := range []string{"alice", "alice@example.com", "1001", "zed_9", "\u212aevin", "[`{~"} {
		if got := FoldASCII(s); got != s || unsafe.StringData(got) != unsafe.StringData(s) {
			t.Errorf("FoldASCII(%q) = a copy %q, want the argument itself", s, got)
		}
	}
}

// CompileList and NewList drop ids <= 0 from the sets, so that the list
// kept (Members) and its counts hold only accounts plex.tv can name
// (list.go).
func TestListDropsIDsAtOrBelowZero(t *testing.T) {
	srv := []string{"srv"}
	cases := []struct {
		name string
		list *List
		want Members
	}{
		{"compiled", CompileList(1, []SharedUser{
			sharedUser(0, true, accepted("srv")),
			sharedUser(-5, false, accepted("srv")),
			sharedUser(-6, true, invited("srv")),
			sharedUser(4, false, accepted("srv")),
		}, srv), Members{OwnerID: 1, Friends: []int64{4}}},
		{"read back", NewList(Members{OwnerID: 1, Home: []int64{0, -1, 8}, Friends: []int64{-2, 0}, Pending: []int64{0}}),
			Members{OwnerID: 1, Home: []int64{8}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.list.Members()
			if m.OwnerID != c.want.OwnerID || !slices.Equal(m.Home, c.want.Home) || !slices.Equal(m.Friends, c.want.Friends) || !slices.Equal(m.Pending, c.want.Pending) {
				t.Errorf("members %+v, want %+v", m, c.want)
			}
			h, f, p := c.list.Counts()
			if h != len(c.want.Home) || f != len(c.want.Friends) || p != len(c.want.Pending) {
				t.Errorf("counts %d %d %d, want %d %d %d", h, f, p, len(c.want.Home), len(c.want.Friends), len(c.want.Pending))
			}
		})
	}
}

// A list whose owner id is <= 0 (NewList does not check it) gives nobody
// TierOwner, the account with that same id included (list.go, TierOf).
func TestListWithoutOwnerIDGivesNobodyTheOwnerTier(t *testing.T) {
	rules := Rules{Servers: []string{"srv"}, Tiers: map[string]bool{TierOwner: true, TierHome: true, TierFriend: true}, Owner: true}
	for _, c := range []struct {
		name string
		list *List
		id   int64
	}{
		{"owner 0, read back", NewList(Members{OwnerID: 0}), 0},
		{"owner -1, read back", NewList(Members{OwnerID: -1}), -1},
		{"owner 0, compiled", CompileList(0, []SharedUser{sharedUser(3, true, accepted("srv"))}, []string{"srv"}), 0},
		{"owner -7, compiled", CompileList(-7, nil, []string{"srv"}), -7},
	} {
		t.Run(c.name, func(t *testing.T) {
			if tier := c.list.TierOf(c.id); tier != "" {
				t.Errorf("TierOf(%d) = %q, want none", c.id, tier)
			}
			if d := Decide(rules, &OwnerView{List: c.list}, Facts{ID: c.id}); d.Tier != "" || d.Refusal != RefusedNoAccess {
				t.Errorf("account %d: decision %+v, want refused for no access", c.id, d)
			}
		})
	}
}
