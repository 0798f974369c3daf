package plexauth

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// parseOIDCClient parses one `oidc_client` option, the dispenser on its
// name:
//
//	oidc_client <id> {
//	    secret      <value>           # confidential client; or:
//	    public                        # no secret: PKCE (S256) required
//	    redirect_uri <uri>...
//	    post_logout_redirect_uri <uri>...
//	    allow_tier  owner|home|friend...
//	    allow_users <username|email|id>...
//	}
//
// Mistakes are reported with the file and line of the option.
func (p *PlexAuth) parseOIDCClient(d *caddyfile.Dispenser) error {
	file, line := d.File(), d.Line()
	var c OIDCClient
	if !d.NextArg() {
		return d.Errf("oidc_client needs a client id: oidc_client <id> { … }")
	}
	c.ID = d.Val()
	if d.NextArg() {
		return d.Errf("oidc_client takes one client id, then a block")
	}
	for _, other := range p.OIDCClients {
		if other.ID == c.ID {
			return d.Errf("oidc_client %q is given twice in this plex_auth block", c.ID)
		}
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if seen[opt] && (opt == "secret" || opt == "public") {
			return d.Errf("oidc_client %s: %s is given twice", c.ID, opt)
		}
		seen[opt] = true
		args := d.RemainingArgs()
		switch opt {
		case "secret":
			// Never echoed: it is a credential.
			if len(args) != 1 || args[0] == "" {
				return d.Errf("oidc_client %s: secret takes exactly one value, best a placeholder such as {env.GRAFANA_OIDC_SECRET}", c.ID)
			}
			if !strings.HasPrefix(args[0], "{") && len(args[0]) < 16 {
				return d.Errf("oidc_client %s: secret must be at least 16 characters", c.ID)
			}
			c.Secret = args[0]
		case "public":
			if len(args) != 0 {
				return d.Errf("oidc_client %s: public takes no value", c.ID)
			}
			c.Public = true
		case "redirect_uri", "post_logout_redirect_uri":
			if len(args) == 0 {
				return d.Errf("oidc_client %s: %s needs at least one URI", c.ID, opt)
			}
			for _, u := range args {
				if err := oidc.CheckRedirectURI(u); err != nil {
					return d.Errf("oidc_client %s: %s: %v", c.ID, opt, err)
				}
			}
			if opt == "redirect_uri" {
				c.RedirectURIs = append(c.RedirectURIs, args...)
			} else {
				c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, args...)
			}
		case "allow_tier":
			if len(args) == 0 {
				return d.Errf("oidc_client %s: allow_tier needs at least one tier", c.ID)
			}
			for _, t := range args {
				if !access.ValidTier(t) {
					return d.Errf("oidc_client %s: allow_tier: unknown tier %q (want owner, home or friend)", c.ID, t)
				}
				c.AllowTiers = append(c.AllowTiers, strings.ToLower(t))
			}
		case "allow_users":
			if len(args) == 0 {
				return d.Errf("oidc_client %s: allow_users needs at least one value", c.ID)
			}
			for _, u := range args {
				if msg := access.AllowUserError(u); msg != "" {
					return d.Errf("oidc_client %s: %s", c.ID, msg)
				}
			}
			c.AllowUsers = append(c.AllowUsers, args...)
		default:
			return d.Errf("oidc_client %s: unknown option %q (want secret, public, redirect_uri, post_logout_redirect_uri, allow_tier or allow_users)", c.ID, opt)
		}
	}
	if err := c.check(); err != nil {
		return fmt.Errorf("%v, at %s:%d", err, file, line)
	}
	p.OIDCClients = append(p.OIDCClients, c)
	return nil
}
