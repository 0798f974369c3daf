package plexauth

import (
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/ownerlist"
)

// ownerFixture is an owner's list where account 1 owns "srv" and account 3
// is a friend there (the decision's own table, with the hostile entries,
// is internal/access's).
func ownerFixture() *access.List {
	return access.CompileList(1, []access.SharedUser{
		{ID: 3, Servers: []access.SharedServer{{MachineIdentifier: "srv"}}},
	}, []string{"srv"})
}

// The handler's admit goes through the same decision: allow_users and an
// ended session are checked first, then the owner's list.
func TestAdmitInOwnerMode(t *testing.T) {
	h := ruleHandler([]string{"srv"}, nil, nil)
	h.owner = ownerlist.Fixed(access.OwnerView{List: ownerFixture()})
	friend := &Session{UserID: 3, Username: "carol", Servers: map[string]string{}}
	friend.Prepare()
	impostor := &Session{UserID: 99, Username: "mallory", Servers: map[string]string{"srv": access.TierOwner}}
	impostor.Prepare()
	if tier, ok := h.admit(friend); !ok || tier != access.TierFriend {
		t.Fatalf("friend: %q %v", tier, ok)
	}
	if tier, ok := h.admit(impostor); ok {
		t.Fatalf("an account whose own resources claim the server was admitted as %q", tier)
	}
	h = ruleHandler([]string{"srv"}, nil, []string{"someone-else"})
	h.owner = ownerlist.Fixed(access.OwnerView{List: ownerFixture()})
	if _, ok := h.admit(friend); ok {
		t.Fatal("allow_users and the owner's list must both hold")
	}
}
