package plexauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
)

// Validate rejects configurations that cannot work or would admit more
// than the operator meant.
func (h *PlexAuth) Validate() error {
	if msg := h.admissionError(); msg != "" {
		return errors.New("plex_auth: " + strings.TrimPrefix(msg, "plex_auth "))
	}
	for _, u := range h.AllowUsers {
		if msg := access.AllowUserError(u); msg != "" {
			return errors.New("plex_auth: " + msg)
		}
	}
	for _, t := range h.AllowTiers {
		if !access.ValidTier(t) {
			return fmt.Errorf("plex_auth: allow_tier: unknown tier %q (want owner, home or friend)", t)
		}
	}
	for _, id := range h.Servers {
		if err := checkServerID(id); err != nil {
			return fmt.Errorf("plex_auth: server: %v", err)
		}
	}
	if h.CookieDomain != "" {
		if err := checkCookieDomain(h.CookieDomain); err != nil {
			return fmt.Errorf("plex_auth: cookie_domain: %v", err)
		}
	}
	if msg := h.oidcClientsError(); msg != "" {
		return errors.New("plex_auth: " + msg)
	}
	if time.Duration(h.SessionTTL) <= 0 {
		return errors.New("plex_auth: session_ttl must be positive")
	}
	if time.Duration(h.Timeout) <= 0 {
		return errors.New("plex_auth: timeout must be positive")
	}
	// 0 takes the default (Provision); a negative value would stop the
	// re-checks (a revoked token kept access until the session ends), or
	// send every request to the store.
	if h.Revalidate < 0 {
		return errors.New("plex_auth: revalidate must be positive")
	}
	if h.CacheTTL < 0 {
		return errors.New("plex_auth: cache_ttl must be positive")
	}
	if !cookieheader.ValidName(h.CookieName) {
		return fmt.Errorf("plex_auth: cookie_name %q is not a valid cookie name", h.CookieName)
	}
	if !strings.HasPrefix(h.Prefix, "/") || strings.ContainsAny(h.Prefix, "?#% \\") {
		return fmt.Errorf("plex_auth: prefix %q must be a path starting with /", h.Prefix)
	}
	if err := h.validateAppSignIn(); err != nil {
		return err
	}
	for name, u := range map[string]string{"plex_tv_url": h.PlexTVURL, "plex_app_url": h.PlexAppURL} {
		if err := validHTTPURL(u); err != nil {
			return fmt.Errorf("plex_auth: %s: %v", name, err)
		}
	}
	return nil
}

func validHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
