package account

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// A re-check asks plex.tv what the mode needs: with the owner's list
// deciding, only who the token is (the servers the session holds are
// kept, and its resources are not read); otherwise the account and its
// resources again, so a share removed since sign-in is seen. A token
// plex.tv no longer accepts is plextv.ErrTokenRejected either way.
func TestReidentifyAsksOnlyWhatTheModeNeeds(t *testing.T) {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer("srv", "Living Room")
	plex.AddAccount("friend")
	plex.Share("srv", "friend", plextest.Friend)
	c := plextv.New(plextv.Config{BaseURL: plex.URL, Product: "Test", ClientID: "test-client", Timeout: 2 * time.Second, HTTP: &http.Client{Timeout: 2 * time.Second}})
	ctx := context.Background()
	a := plex.Account("friend")
	held := &session.Session{UserID: int64(a.ID), Username: "old name", Token: a.Token, Servers: map[string]string{"kept": access.TierHome}}

	plex.Unshare("srv", "friend")
	fresh, err := Reidentify(ctx, c, held, true)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Username != "friend" || fresh.Servers["kept"] != access.TierHome || len(fresh.Servers) != 1 || fresh.Token != a.Token {
		t.Errorf("owner mode: %+v, want the account's current name and the servers held", fresh)
	}
	if n := plex.Count(http.MethodGet, "/api/v2/resources"); n != 0 {
		t.Errorf("owner mode read the resources %d times", n)
	}

	fresh, err = Reidentify(ctx, c, held, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh.Servers) != 0 || plex.Count(http.MethodGet, "/api/v2/resources") != 1 {
		t.Errorf("device mode: servers %v, want none after the share was removed, read once from the resources", fresh.Servers)
	}

	plex.RevokeToken("friend")
	for _, keep := range []bool{true, false} {
		if _, err := Reidentify(ctx, c, held, keep); !errors.Is(err, plextv.ErrTokenRejected) {
			t.Errorf("keepServers %v, revoked token: %v, want plextv.ErrTokenRejected", keep, err)
		}
	}
}
