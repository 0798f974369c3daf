package command

import (
	"strings"
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
)

func TestSignoutTakesAnAccountIDOrTheUsernameOfASession(t *testing.T) {
	list := []admin.Session{{AccountID: 1001, Username: "Owner"}, {AccountID: 1002, Username: "1001"}, {AccountID: 1003, Username: "friend"}}
	for _, c := range []struct {
		arg    string
		wantID int64
		name   string
	}{
		{"1003", 1003, "friend"},
		{"friend", 1003, "friend"},
		{"OWNER", 1001, "Owner"}, // Plex usernames are matched without case
		{"1001", 1001, "Owner"},  // an account id wins over a username that looks like one
		{"77", 77, ""},           // an account with no session here: ended in the store
	} {
		id, name, err := resolveAccount(c.arg, list)
		if err != nil || id != c.wantID || name != c.name {
			t.Errorf("%q: %d %q %v, want %d %q", c.arg, id, name, err, c.wantID, c.name)
		}
	}
	for _, arg := range []string{"stranger", "", "-5", "0"} {
		if _, _, err := resolveAccount(arg, list); err == nil {
			t.Errorf("%q: resolved, want an error", arg)
		}
	}
	if _, _, err := resolveAccount("stranger", list); !strings.Contains(err.Error(), "account id") {
		t.Errorf("an unknown username should point to the account id: %v", err)
	}
}
