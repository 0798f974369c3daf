package command

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

const (
	attic  = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	cellar = "fedcba9876543210fedcba9876543210fedcba98"
)

// Setup lists only the servers the account owns, each once, and none the
// Caddyfile would refuse as a machine identifier.
func TestSetupListsOnlyOwnedServersOnceWithAUsableIdentifier(t *testing.T) {
	refused := "has a space"
	check := func(id string) error {
		if strings.Contains(id, " ") {
			return errors.New("not a machine identifier")
		}
		return nil
	}
	got := ownedServers([]plextv.Device{
		{Name: "Attic", ClientIdentifier: attic, Provides: "server", Owned: true},
		{Name: "Shared", ClientIdentifier: "shared0123456789abcd", Provides: "server", Owned: false},
		{Name: "Phone", ClientIdentifier: "phone0123456789abcde", Provides: "client,player", Owned: true},
		{Name: "Attic again", ClientIdentifier: attic, Provides: "server", Owned: true},
		{Name: "Odd", ClientIdentifier: refused, Provides: "server", Owned: true},
		{Name: "Cellar", ClientIdentifier: cellar, Provides: "player, server", Owned: true},
	}, check)
	if len(got) != 2 || got[0].Name != "Attic" || got[1].Name != "Cellar" {
		t.Fatalf("owned servers %+v, want Attic and Cellar", got)
	}
}

// The block names every server on one line, reads the owner token from
// the environment, and names plex.tv only when it is not plex.tv's own.
func TestSetupBlockNamesTheServersAndPlexTVOnlyWhenNotTheDefault(t *testing.T) {
	one := []plextv.Device{{ClientIdentifier: attic}}
	if got, want := setupBlock(one, ""), "\tplex_auth {\n\t\tserver "+attic+"\n\t\towner_token {env.PLEX_TOKEN}\n\t}\n"; got != want {
		t.Errorf("block for one server:\n%s\nwant:\n%s", got, want)
	}
	two := append(one, plextv.Device{ClientIdentifier: cellar})
	got := setupBlock(two, "http://127.0.0.1:9999")
	for _, want := range []string{"# users of any of these servers get in", "\t\tserver " + attic + " " + cellar + "\n", "\t\tplex_tv_url http://127.0.0.1:9999\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("block for two servers at another plex.tv lacks %q:\n%s", want, got)
		}
	}
}
