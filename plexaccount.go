package plexauth

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// What the handler makes of plex.tv's answers (internal/plextv): the client
// as this module configures it, and a session's content from the account
// and servers plex.tv reports.

// newPlexClient is the plex.tv client of a plex_auth block or of setup:
// every call bounded by timeout, and counted in the metrics.
func newPlexClient(base, product, clientID string, timeout time.Duration) *plextv.Client {
	return plextv.New(plextv.Config{
		BaseURL:  base,
		Product:  product,
		ClientID: clientID,
		Timeout:  timeout,
		HTTP:     &http.Client{Timeout: timeout},
		Observe:  observePlexCall,
	})
}

// identify runs the user and resources calls for a token and makes the
// session content from them (accountSession, which cleans the values).
func identify(ctx context.Context, c *plextv.Client, token string) (*Session, error) {
	u, err := c.User(ctx, token)
	if err != nil {
		return nil, err
	}
	devices, err := c.Resources(ctx, token)
	if err != nil {
		return nil, err
	}
	return accountSession(u, serverTiers(devices), token), nil
}

// serverTiers returns the machine identifier and tier of every Plex Media
// Server among devices: owner for a server the account owns, home for one
// of its Plex Home, friend for one shared with it.
func serverTiers(devices []plextv.Device) map[string]string {
	out := make(map[string]string)
	for _, d := range devices {
		if d.ClientIdentifier == "" || !d.ProvidesServer() {
			continue // players and clients share the list
		}
		tier := access.TierFriend
		switch {
		case d.Owned:
			tier = access.TierOwner
		case d.Home:
			tier = access.TierHome
		}
		// A server listed twice keeps its highest tier, whatever the order.
		if access.TierRank(tier) > access.TierRank(out[d.ClientIdentifier]) {
			out[d.ClientIdentifier] = tier
		}
	}
	return out
}
