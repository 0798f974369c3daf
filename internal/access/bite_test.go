package access

import "testing"

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
