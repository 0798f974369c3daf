package plexauth

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookiedomain"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("plex_auth", parseCaddyfile)
	// Authentication comes before basic_auth, so no global `order` is needed.
	httpcaddyfile.RegisterDirectiveOrder("plex_auth", httpcaddyfile.Before, "basic_auth")
}

// parseCaddyfile sets up the handler from Caddyfile tokens.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var p PlexAuth
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return &p, err
}

// UnmarshalCaddyfile parses the plex_auth directive:
//
//	plex_auth [<matcher>] {
//	    product          <name>
//	    client_id        <id>
//	    server           <machineIdentifier>...
//	    allow_tier       owner|home|friend...
//	    allow_users      <username|email|id>...
//	    allow_any_plex_user
//	    owner_token      <token>
//	    session_ttl      <duration>
//	    cookie_name      <name>
//	    cookie_domain    <domain>
//	    prefix           <path>
//	    redirect_domains <host>...
//	    plex_tv_url      <url>
//	    plex_app_url     <url>
//	    timeout          <duration>
//	    revalidate       <duration>
//	    store            caddy|redis <redis-url>|memory
//	    cache_ttl        <duration>
//	    secret           <value>...
//	    login_title      <text>
//	    login_logo       <url or file>
//	    login_template   <file>
//	    oidc_client      <id> { … }   (oidc_caddyfile.go)
//	}
//
// Mistakes are reported with the file and line of the option.
func (p *PlexAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	file, line := d.File(), d.Line()
	blockErr := func(msg string) error {
		return fmt.Errorf("%s, at %s:%d", msg, file, line)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]int) // single-valued option -> its line
	for d.NextBlock(0) {
		opt := d.Val()
		if _, multi := repeatableOptions[opt]; !multi {
			if first, twice := seen[opt]; twice {
				return d.Errf("%s is given twice in this plex_auth block (first at line %d): keep one", opt, first)
			}
			seen[opt] = d.Line()
		}
		switch opt {
		case "product", "client_id", "cookie_name", "cookie_domain", "prefix", "plex_tv_url", "plex_app_url",
			"login_title", "login_logo", "login_template":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s takes exactly one value", opt)
			}
			switch opt {
			case "product":
				p.Product = v
			case "client_id":
				p.ClientID = v
			case "cookie_name":
				if !cookieheader.ValidName(v) {
					return d.Errf("cookie_name %q is not a valid cookie name", v)
				}
				p.CookieName = v
			case "cookie_domain":
				if err := cookiedomain.Check(v); err != nil {
					return d.Errf("cookie_domain: %v", err)
				}
				p.CookieDomain = v
			case "prefix":
				if !strings.HasPrefix(v, "/") || strings.TrimRight(v, "/") == "" || strings.ContainsAny(v, "?#% \\") {
					return d.Errf("prefix %q must be a path like /_plexauth", v)
				}
				p.Prefix = v
			case "plex_tv_url":
				if err := validHTTPURL(v); err != nil {
					return d.Errf("plex_tv_url: %v", err)
				}
				p.PlexTVURL = v
			case "plex_app_url":
				if err := validHTTPURL(v); err != nil {
					return d.Errf("plex_app_url: %v", err)
				}
				p.PlexAppURL = v
			case "login_title":
				p.LoginTitle = v
			case "login_logo":
				p.LoginLogo = v
			case "login_template":
				p.LoginTemplate = v
			}
		case "server", "allow_users", "redirect_domains", "allow_tier":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("%s needs at least one value", opt)
			}
			switch opt {
			case "server":
				for _, id := range args {
					if err := access.CheckServerID(id); err != nil {
						return d.Errf("server: %v", err)
					}
				}
				p.Servers = append(p.Servers, args...)
			case "allow_users":
				for _, u := range args {
					if msg := access.AllowUserError(u); msg != "" {
						return d.Err(msg)
					}
				}
				p.AllowUsers = append(p.AllowUsers, args...)
			case "redirect_domains":
				p.RedirectDomains = append(p.RedirectDomains, args...)
			case "allow_tier":
				for _, t := range args {
					if !access.ValidTier(t) {
						return d.Errf("allow_tier: unknown tier %q (want owner, home or friend)", t)
					}
					p.AllowTiers = append(p.AllowTiers, strings.ToLower(t))
				}
			}
		case "owner_token":
			// The value is never echoed: it is, or holds, a Plex token.
			args := d.RemainingArgs()
			if len(args) != 1 || args[0] == "" {
				return d.Errf("owner_token takes exactly one value: the owner's Plex token, best as a placeholder such as {env.PLEX_TOKEN}")
			}
			p.OwnerToken = args[0]
		case "allow_any_plex_user":
			if d.NextArg() {
				return d.Errf("allow_any_plex_user takes no value")
			}
			p.AllowAnyPlexUser = true
		case "session_ttl", "timeout", "revalidate", "cache_ttl":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s takes exactly one duration", opt)
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("%s: %q is not a positive duration", opt, v)
			}
			*map[string]*caddy.Duration{
				"session_ttl": &p.SessionTTL,
				"timeout":     &p.Timeout,
				"revalidate":  &p.Revalidate,
				"cache_ttl":   &p.CacheTTL,
			}[opt] = caddy.Duration(dur)
		case "store":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && (args[0] == "caddy" || args[0] == "memory"):
				p.Store = args[0]
			case len(args) == 2 && args[0] == "redis":
				if !strings.HasPrefix(args[1], "{") && !strings.HasPrefix(args[1], "redis://") && !strings.HasPrefix(args[1], "rediss://") && !strings.HasPrefix(args[1], "unix://") {
					// The URL is not echoed: it may hold a password.
					return d.Errf("store redis: the URL must start with redis://, rediss:// or unix://, or be a placeholder like {env.REDIS_URL}")
				}
				p.Store, p.StoreURL = "redis", args[1]
			default:
				return d.Errf("store takes `caddy`, `redis <redis-url>` or `memory`")
			}
		case "oidc_client":
			if err := p.parseOIDCClient(d); err != nil {
				return err
			}
		case "secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("secret needs at least one value (the first seals new cookies, all open old ones)")
			}
			for _, a := range args {
				if !strings.HasPrefix(a, "{") && len(a) < 16 {
					return d.Errf("secret must be at least 16 characters")
				}
			}
			p.Secrets = append(p.Secrets, args...)
		case "app_sign_in":
			a, err := parseAppSignIn(d)
			if err != nil {
				return err
			}
			p.AppSignIn = a
		default:
			return d.Errf("unknown plex_auth option %q", opt)
		}
	}
	if msg := p.admissionError(); msg != "" {
		return blockErr(msg)
	}
	if msg := p.oidcClientsError(); msg != "" {
		return blockErr(msg)
	}
	return nil
}

// repeatableOptions may appear more than once in a block; their values add
// up. Any other option given twice is a mistake (which one was meant?).
var repeatableOptions = map[string]struct{}{
	"server": {}, "allow_users": {}, "redirect_domains": {}, "allow_tier": {}, "secret": {},
	"oidc_client": {},
}

var _ caddyfile.Unmarshaler = (*PlexAuth)(nil)
