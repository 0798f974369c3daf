package oidcprovider

import (
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// ClientOptions is an `oidc_client` option as the configuration gives it:
// the root's OIDCClient, which documents each field for the operator, has
// the same fields and converts to it.
type ClientOptions struct {
	ID                     string
	Secret                 string // may hold placeholders (Config.Expand)
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AllowTiers             []string // narrows the block's tiers; needs a server
	AllowUsers             []string // narrows the block's rules (access.AllowList)
}

// ClientsError says what is wrong with a block's clients, or "": a client
// on its own (oidc.CheckClient), an id given twice, allow_tier when the
// block names no server (servers false) or with an unknown tier, an
// allow_users entry access.AllowUserError refuses. The message names the
// option and the client.
func ClientsError(clients []ClientOptions, servers bool) string {
	seen := make(map[string]bool)
	for i := range clients {
		c := &clients[i]
		if err := c.Check(); err != nil {
			return err.Error()
		}
		if seen[c.ID] {
			return fmt.Sprintf("oidc_client %q is given twice", c.ID)
		}
		seen[c.ID] = true
		if len(c.AllowTiers) > 0 && !servers {
			return fmt.Sprintf("oidc_client %s: allow_tier needs server in the block: tiers are kinds of access to a Plex server", c.ID)
		}
		for _, t := range c.AllowTiers {
			if !access.ValidTier(t) {
				return fmt.Sprintf("oidc_client %s: allow_tier: unknown tier %q (want owner, home or friend)", c.ID, t)
			}
		}
		for _, u := range c.AllowUsers {
			if msg := access.AllowUserError(u); msg != "" {
				return fmt.Sprintf("oidc_client %s: %s", c.ID, msg)
			}
		}
	}
	return ""
}

// Check says what is wrong with the client on its own (oidc.CheckClient),
// or nil.
func (c *ClientOptions) Check() error {
	oc := c.client(c.Secret)
	return oidc.CheckClient(&oc)
}

func (c *ClientOptions) client(secret string) oidc.Client {
	return oidc.Client{ID: c.ID, Secret: secret, Public: c.Public,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs}
}

// clientRules are a client's own rules, stricter than the block's.
type clientRules struct {
	tiers map[string]bool   // nil: the block's
	users *access.AllowList // nil: the block's
}

// refusal is why the client's own rules refuse the account f (holding
// tier at the block's servers), or "".
func (cr clientRules) refusal(f *access.Facts, tier string) access.Refusal {
	if cr.users != nil && !cr.users.Match(f.ID, f.FoldedUsername, f.FoldedEmail) {
		return access.RefusedNotListed
	}
	if cr.tiers != nil && !cr.tiers[tier] {
		return access.RefusedTier
	}
	return ""
}

// compileClients expands the secrets and compiles each client's rules. A
// secret written in the configuration itself is warned of, as an
// owner_token is; a secret is never echoed: it is a credential.
func compileClients(c *Config) ([]oidc.Client, map[string]clientRules, error) {
	rules := make(map[string]clientRules)
	var clients []oidc.Client
	for _, o := range c.Clients {
		secret := o.Secret
		if secret != "" {
			if !strings.Contains(secret, "{") {
				c.Logger.Warn("the secret of oidc_client is written in the configuration itself, so Caddy keeps it in its saved config (autosave.json) and shows it on its admin API; give it as a placeholder such as {env.OIDC_SECRET}",
					zap.String("client", o.ID))
			}
			if secret = strings.TrimSpace(c.Expand(secret)); len(secret) < 16 {
				return nil, nil, fmt.Errorf("oidc_client %s: the secret is shorter than 16 characters (an unset {env.…} placeholder expands to nothing)", o.ID)
			}
		}
		clients = append(clients, o.client(secret))
		var cr clientRules
		if len(o.AllowTiers) > 0 {
			cr.tiers = make(map[string]bool)
			for _, t := range o.AllowTiers {
				cr.tiers[strings.ToLower(t)] = true
			}
		}
		if len(o.AllowUsers) > 0 {
			var err error
			if cr.users, err = access.NewAllowList(o.AllowUsers); err != nil {
				return nil, nil, fmt.Errorf("oidc_client %s: %v", o.ID, err)
			}
		}
		rules[o.ID] = cr
	}
	return clients, rules, nil
}
