// Package account makes a session's content from what plex.tv says of an
// account (internal/plextv): who it is, its values cleaned, and the tier it
// holds at each server it reaches. It decides nothing: the rules
// (internal/access) read what it found.
package account

import (
	"context"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Identify runs the user and resources calls for a token and makes the
// session content from them (NewSession, which cleans the values). Its
// errors are plextv's, unchanged.
func Identify(ctx context.Context, c *plextv.Client, token string) (*session.Session, error) {
	u, err := c.User(ctx, token)
	if err != nil {
		return nil, err
	}
	devices, err := c.Resources(ctx, token)
	if err != nil {
		return nil, err
	}
	return NewSession(u, ServerTiers(devices), token), nil
}

// Reidentify is what a re-check of s asks plex.tv with its token. With
// keepServers (owner_token: the owner's list decides access) only the
// account is asked, whether the token still works and its current values,
// and the servers s holds are kept as they are; otherwise it is Identify.
// The session returned is new (NewSession), without s's own facts
// (created, expires, app sessions); its errors are plextv's, unchanged.
func Reidentify(ctx context.Context, c *plextv.Client, s *session.Session, keepServers bool) (*session.Session, error) {
	if !keepServers {
		return Identify(ctx, c, s.Token)
	}
	u, err := c.User(ctx, s.Token)
	if err != nil {
		return nil, err
	}
	return NewSession(u, s.Servers, s.Token), nil
}

// ServerTiers returns the machine identifier and tier of every Plex Media
// Server among devices: owner for a server the account owns, home for one
// of its Plex Home, friend for one shared with it.
func ServerTiers(devices []plextv.Device) map[string]string {
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
