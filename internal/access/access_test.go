package access

import (
	"testing"
)

func sharedUser(id int64, home bool, servers ...SharedServer) SharedUser {
	return SharedUser{ID: id, Home: home, Servers: servers}
}

func accepted(id string) SharedServer { return SharedServer{MachineIdentifier: id} }
func invited(id string) SharedServer {
	return SharedServer{MachineIdentifier: id, Pending: true}
}

// ownerFixture is the owner's list as plex.tv might answer it, with the
// hostile and odd entries a decision must not be fooled by. The owner is
// account 1; "srv" is the configured server.
func ownerFixture() *List {
	const big = int64(1) << 62
	return CompileList(1, []SharedUser{
		sharedUser(2, true, accepted("srv")),                                       // home member
		sharedUser(3, false, accepted("srv")),                                      // friend
		sharedUser(4, false, accepted("other")),                                    // friend of another server only
		sharedUser(5, false, invited("srv")),                                       // invitation not accepted
		sharedUser(7, true),                                                        // home member without a Server child
		sharedUser(1, false, invited("srv")),                                       // the owner, listed oddly
		sharedUser(0, false, accepted("srv")),                                      // no id
		sharedUser(-3, false, accepted("srv")),                                     // a negative id
		sharedUser(9, false, accepted("SRV")),                                      // another identifier, only in case
		sharedUser(10, false, accepted("")),                                        // no identifier
		sharedUser(11, false, invited("srv")),                                      // the same user twice: invited...
		sharedUser(11, false, accepted("srv")),                                     // ...and accepted
		sharedUser(12, false, accepted("srv")),                                     // accepted...
		sharedUser(12, false, invited("srv")),                                      // ...then listed as invited
		sharedUser(13, false, invited("srv"), accepted("other"), accepted("srv2")), // invited here, friend elsewhere
		sharedUser(big, false, accepted("srv")),                                    // an id past float64's integers
		sharedUser(big+1, false, invited("srv")),                                   // its neighbour, invited
	}, []string{"srv", "srv2"})
}

func TestAccessDecision(t *testing.T) {
	list := ownerFixture()
	all := map[string]bool{TierOwner: true, TierHome: true, TierFriend: true}
	ownerOnly := map[string]bool{TierOwner: true}
	owner := func(tiers map[string]bool) Rules {
		return Rules{Servers: []string{"srv", "srv2"}, Tiers: tiers, Owner: true}
	}
	device := func(tiers map[string]bool, servers ...string) Rules {
		return Rules{Servers: servers, Tiers: tiers}
	}
	known := &OwnerView{List: list}
	// An account whose own resources claim the configured server as owned.
	claims := map[string]string{"srv": TierOwner}

	cases := []struct {
		name    string
		rules   Rules
		view    *OwnerView
		facts   Facts
		tier    string
		refusal Refusal
	}{
		{"owner's account is owner", owner(all), known, Facts{ID: 1}, TierOwner, ""},
		{"owner's account is owner even listed as invited", owner(all), known, Facts{ID: 1}, TierOwner, ""},
		{"home member", owner(all), known, Facts{ID: 2}, TierHome, ""},
		{"home member without a Server child", owner(all), known, Facts{ID: 7}, TierHome, ""},
		{"friend with the server", owner(all), known, Facts{ID: 3}, TierFriend, ""},
		{"friend of another server only", owner(all), known, Facts{ID: 4}, "", RefusedNoAccess},
		{"pending invitation is no access", owner(all), known, Facts{ID: 5}, "", RefusedPending},
		{"invited here, friend of a second configured server", owner(all), known, Facts{ID: 13}, TierFriend, ""},
		{"identifier differing in case", owner(all), known, Facts{ID: 9}, "", RefusedNoAccess},
		{"empty identifier", owner(all), known, Facts{ID: 10}, "", RefusedNoAccess},
		{"listed twice, invited then accepted", owner(all), known, Facts{ID: 11}, TierFriend, ""},
		{"listed twice, accepted then invited", owner(all), known, Facts{ID: 12}, TierFriend, ""},
		{"64-bit id", owner(all), known, Facts{ID: 1 << 62}, TierFriend, ""},
		{"64-bit neighbour, invited", owner(all), known, Facts{ID: 1<<62 + 1}, "", RefusedPending},
		{"account id 0", owner(all), known, Facts{ID: 0}, "", RefusedNoAccess},
		{"negative account id", owner(all), known, Facts{ID: -3}, "", RefusedNoAccess},
		{"stranger", owner(all), known, Facts{ID: 99}, "", RefusedNoAccess},
		{"own resources claiming the server are not consulted", owner(all), known, Facts{ID: 99, Devices: claims}, "", RefusedNoAccess},
		{"friend's own resources claiming ownership change nothing", owner(all), known, Facts{ID: 3, Devices: claims}, TierFriend, ""},
		{"friend on an owner-only block", owner(ownerOnly), known, Facts{ID: 3}, "", RefusedTier},
		{"home on an owner-only block", owner(ownerOnly), known, Facts{ID: 2}, "", RefusedTier},
		{"owner on an owner-only block", owner(ownerOnly), known, Facts{ID: 1}, TierOwner, ""},
		{"no list known yet", owner(all), &OwnerView{}, Facts{ID: 1}, "", RefusedNoList},
		{"no view at all", owner(all), nil, Facts{ID: 1}, "", RefusedNoList},
		{"server not owned by the token's account", owner(all), &OwnerView{List: list, Problem: OwnerNotOwned}, Facts{ID: 1}, "", RefusedSetup},
		{"token rejected: the last list still decides", owner(all), &OwnerView{List: list, Problem: OwnerTokenRejected}, Facts{ID: 3}, TierFriend, ""},
		{"token rejected: strangers still refused", owner(all), &OwnerView{List: list, Problem: OwnerTokenRejected}, Facts{ID: 99}, "", RefusedNoAccess},

		{"device mode: own resources say owner", device(all, "srv"), nil, Facts{ID: 99, Devices: claims}, TierOwner, ""},
		{"device mode: friend", device(all, "srv"), nil, Facts{Devices: map[string]string{"srv": TierFriend}}, TierFriend, ""},
		{"device mode: friend on owner-only", device(ownerOnly, "srv"), nil, Facts{Devices: map[string]string{"srv": TierFriend}}, "", RefusedTier},
		{"device mode: best allowed tier across servers", device(all, "srv", "b"), nil, Facts{Devices: map[string]string{"srv": TierFriend, "b": TierHome}}, TierHome, ""},
		{"device mode: allowed tier on one server, refused on the other", device(ownerOnly, "srv", "b"), nil, Facts{Devices: map[string]string{"srv": TierFriend, "b": TierOwner}}, TierOwner, ""},
		{"device mode: unreachable server", device(all, "srv"), nil, Facts{Devices: map[string]string{"other": TierOwner}}, "", RefusedNoAccess},
		{"device mode: unknown tier string", device(all, "srv"), nil, Facts{Devices: map[string]string{"srv": "admin"}}, "", RefusedNoAccess},
		{"device mode: no devices", device(all, "srv"), nil, Facts{}, "", RefusedNoAccess},
		{"no server: the account decides alone", Rules{}, nil, Facts{}, "", ""},
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

func TestRefusalsThatMeanTheBlockCannotDecide(t *testing.T) {
	for r, want := range map[Refusal]bool{
		RefusedSetup: true, RefusedNoList: true,
		RefusedNoAccess: false, RefusedPending: false, RefusedTier: false, "": false,
	} {
		if r.Unavailable() != want {
			t.Errorf("%q.Unavailable() = %v, want %v", r, !want, want)
		}
	}
}
