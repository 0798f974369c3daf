package plexauth

import (
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

func sharedUser(id int64, home bool, servers ...plextv.SharedServer) plextv.SharedUser {
	return plextv.SharedUser{ID: plextv.ID(id), Home: plextv.Flag(home), Servers: servers}
}

func accepted(id string) plextv.SharedServer { return plextv.SharedServer{MachineIdentifier: id} }
func invited(id string) plextv.SharedServer {
	return plextv.SharedServer{MachineIdentifier: id, Pending: true}
}

// ownerFixture is the owner's list as plex.tv might answer it, with the
// hostile and odd entries a decision must not be fooled by. The owner is
// account 1; "srv" is the configured server.
func ownerFixture() *accessList {
	const big = int64(1) << 62
	return compileAccessList(1, []plextv.SharedUser{
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
	all := map[string]bool{tierOwner: true, tierHome: true, tierFriend: true}
	ownerOnly := map[string]bool{tierOwner: true}
	owner := func(tiers map[string]bool) accessRules {
		return accessRules{servers: []string{"srv", "srv2"}, tiers: tiers, owner: true}
	}
	device := func(tiers map[string]bool, servers ...string) accessRules {
		return accessRules{servers: servers, tiers: tiers}
	}
	known := &ownerView{list: list}
	// An account whose own resources claim the configured server as owned.
	claims := map[string]string{"srv": tierOwner}

	cases := []struct {
		name    string
		rules   accessRules
		view    *ownerView
		facts   accountFacts
		tier    string
		refusal refusal
	}{
		{"owner's account is owner", owner(all), known, accountFacts{id: 1}, tierOwner, ""},
		{"owner's account is owner even listed as invited", owner(all), known, accountFacts{id: 1}, tierOwner, ""},
		{"home member", owner(all), known, accountFacts{id: 2}, tierHome, ""},
		{"home member without a Server child", owner(all), known, accountFacts{id: 7}, tierHome, ""},
		{"friend with the server", owner(all), known, accountFacts{id: 3}, tierFriend, ""},
		{"friend of another server only", owner(all), known, accountFacts{id: 4}, "", refusedNoAccess},
		{"pending invitation is no access", owner(all), known, accountFacts{id: 5}, "", refusedPending},
		{"invited here, friend of a second configured server", owner(all), known, accountFacts{id: 13}, tierFriend, ""},
		{"identifier differing in case", owner(all), known, accountFacts{id: 9}, "", refusedNoAccess},
		{"empty identifier", owner(all), known, accountFacts{id: 10}, "", refusedNoAccess},
		{"listed twice, invited then accepted", owner(all), known, accountFacts{id: 11}, tierFriend, ""},
		{"listed twice, accepted then invited", owner(all), known, accountFacts{id: 12}, tierFriend, ""},
		{"64-bit id", owner(all), known, accountFacts{id: 1 << 62}, tierFriend, ""},
		{"64-bit neighbour, invited", owner(all), known, accountFacts{id: 1<<62 + 1}, "", refusedPending},
		{"account id 0", owner(all), known, accountFacts{id: 0}, "", refusedNoAccess},
		{"negative account id", owner(all), known, accountFacts{id: -3}, "", refusedNoAccess},
		{"stranger", owner(all), known, accountFacts{id: 99}, "", refusedNoAccess},
		{"own resources claiming the server are not consulted", owner(all), known, accountFacts{id: 99, devices: claims}, "", refusedNoAccess},
		{"friend's own resources claiming ownership change nothing", owner(all), known, accountFacts{id: 3, devices: claims}, tierFriend, ""},
		{"friend on an owner-only block", owner(ownerOnly), known, accountFacts{id: 3}, "", refusedTier},
		{"home on an owner-only block", owner(ownerOnly), known, accountFacts{id: 2}, "", refusedTier},
		{"owner on an owner-only block", owner(ownerOnly), known, accountFacts{id: 1}, tierOwner, ""},
		{"no list known yet", owner(all), &ownerView{}, accountFacts{id: 1}, "", refusedNoList},
		{"no view at all", owner(all), nil, accountFacts{id: 1}, "", refusedNoList},
		{"server not owned by the token's account", owner(all), &ownerView{list: list, problem: ownerNotOwned}, accountFacts{id: 1}, "", refusedSetup},
		{"token rejected: the last list still decides", owner(all), &ownerView{list: list, problem: ownerTokenRejected}, accountFacts{id: 3}, tierFriend, ""},
		{"token rejected: strangers still refused", owner(all), &ownerView{list: list, problem: ownerTokenRejected}, accountFacts{id: 99}, "", refusedNoAccess},

		{"device mode: own resources say owner", device(all, "srv"), nil, accountFacts{id: 99, devices: claims}, tierOwner, ""},
		{"device mode: friend", device(all, "srv"), nil, accountFacts{devices: map[string]string{"srv": tierFriend}}, tierFriend, ""},
		{"device mode: friend on owner-only", device(ownerOnly, "srv"), nil, accountFacts{devices: map[string]string{"srv": tierFriend}}, "", refusedTier},
		{"device mode: best allowed tier across servers", device(all, "srv", "b"), nil, accountFacts{devices: map[string]string{"srv": tierFriend, "b": tierHome}}, tierHome, ""},
		{"device mode: allowed tier on one server, refused on the other", device(ownerOnly, "srv", "b"), nil, accountFacts{devices: map[string]string{"srv": tierFriend, "b": tierOwner}}, tierOwner, ""},
		{"device mode: unreachable server", device(all, "srv"), nil, accountFacts{devices: map[string]string{"other": tierOwner}}, "", refusedNoAccess},
		{"device mode: unknown tier string", device(all, "srv"), nil, accountFacts{devices: map[string]string{"srv": "admin"}}, "", refusedNoAccess},
		{"device mode: no devices", device(all, "srv"), nil, accountFacts{}, "", refusedNoAccess},
		{"no server: the account decides alone", accessRules{}, nil, accountFacts{}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decideAccess(c.rules, c.view, c.facts)
			if d.tier != c.tier || d.refusal != c.refusal {
				t.Fatalf("decision = %q/%q, want %q/%q", d.tier, d.refusal, c.tier, c.refusal)
			}
		})
	}
}

func TestRefusalsThatMeanTheBlockCannotDecide(t *testing.T) {
	for r, want := range map[refusal]bool{
		refusedSetup: true, refusedNoList: true,
		refusedNoAccess: false, refusedPending: false, refusedTier: false, "": false,
	} {
		if r.unavailable() != want {
			t.Errorf("%q.unavailable() = %v, want %v", r, !want, want)
		}
	}
}

// The handler's admit goes through the same decision: allow_users and an
// ended session are checked first, then the owner's list.
func TestAdmitInOwnerMode(t *testing.T) {
	h := ruleHandler([]string{"srv"}, nil, nil)
	h.owner = &ownerList{}
	h.owner.view.Store(&ownerView{list: ownerFixture()})
	friend := &Session{UserID: 3, Username: "carol", Servers: map[string]string{}}
	friend.prepare()
	impostor := &Session{UserID: 99, Username: "mallory", Servers: map[string]string{"srv": tierOwner}}
	impostor.prepare()
	if tier, ok := h.admit(friend); !ok || tier != tierFriend {
		t.Fatalf("friend: %q %v", tier, ok)
	}
	if tier, ok := h.admit(impostor); ok {
		t.Fatalf("an account whose own resources claim the server was admitted as %q", tier)
	}
	h = ruleHandler([]string{"srv"}, nil, []string{"someone-else"})
	h.owner = &ownerList{}
	h.owner.view.Store(&ownerView{list: ownerFixture()})
	if _, ok := h.admit(friend); ok {
		t.Fatal("allow_users and the owner's list must both hold")
	}
}
