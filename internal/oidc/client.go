package oidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/url"
	"strings"
)

// Client is a relying party registered with the provider.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret is the client_secret of a confidential client; empty for a
	// public one.
	Secret string
	// Public clients (mobile and single-page apps) have no secret and must
	// use PKCE.
	Public bool
	// RedirectURIs are compared with the request's redirect_uri byte for
	// byte: no prefix, no wildcard, no normalisation. Custom schemes
	// (app.immich:///oauth-callback) are allowed.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where end_session may send the browser
	// afterwards, compared the same way. Empty: the RedirectURIs.
	PostLogoutRedirectURIs []string
}

// RedirectAllowed reports whether uri is one of the client's redirect URIs.
func (c *Client) RedirectAllowed(uri string) bool { return oneOf(uri, c.RedirectURIs) }

// PostLogoutAllowed reports whether uri is one of the client's post-logout
// redirect URIs.
func (c *Client) PostLogoutAllowed(uri string) bool {
	if len(c.PostLogoutRedirectURIs) == 0 {
		return c.RedirectAllowed(uri)
	}
	return oneOf(uri, c.PostLogoutRedirectURIs)
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// SecretMatches compares secret with the client's in constant time (the
// SHA-256 of both, so the length leaks neither). A public client matches
// no secret.
func (c *Client) SecretMatches(secret string) bool {
	if c.Public || c.Secret == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(c.Secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Registry is the set of registered clients, by id.
type Registry struct {
	byID map[string]*Client
}

// NewRegistry checks the clients and indexes them. Its errors name the
// client and say what is wrong: a duplicate id, no redirect URI, a public
// client with a secret, a confidential one without, a redirect URI that
// is not an absolute URI or has a fragment (RFC 6749 §3.1.2).
func NewRegistry(clients []Client) (*Registry, error) {
	r := &Registry{byID: make(map[string]*Client, len(clients))}
	for i := range clients {
		c := clients[i]
		if err := CheckClient(&c); err != nil {
			return nil, err
		}
		if _, dup := r.byID[c.ID]; dup {
			return nil, fmt.Errorf("oidc_client %q is registered twice", c.ID)
		}
		r.byID[c.ID] = &c
	}
	return r, nil
}

// CheckClient says what is wrong with one client, or nil.
func CheckClient(c *Client) error {
	switch {
	case c.ID == "" || strings.ContainsAny(c.ID, " \t\r\n"):
		return fmt.Errorf("oidc_client: %q is not a client id", c.ID)
	case len(c.RedirectURIs) == 0:
		return fmt.Errorf("oidc_client %s: no redirect_uri: a client must register where its codes go", c.ID)
	case c.Public && c.Secret != "":
		return fmt.Errorf("oidc_client %s: a public client has no secret (it uses PKCE); remove secret or public", c.ID)
	case !c.Public && c.Secret == "":
		return fmt.Errorf("oidc_client %s: needs secret, or public for a client that cannot keep one (it must then use PKCE)", c.ID)
	}
	for _, u := range append(append([]string(nil), c.RedirectURIs...), c.PostLogoutRedirectURIs...) {
		if err := CheckRedirectURI(u); err != nil {
			return fmt.Errorf("oidc_client %s: %v", c.ID, err)
		}
	}
	return nil
}

// CheckRedirectURI refuses what cannot be a redirect URI: not absolute,
// with a fragment, or with characters a URL cannot hold.
func CheckRedirectURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		return fmt.Errorf("redirect_uri %q is not an absolute URI", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("redirect_uri %q has a fragment, which RFC 6749 §3.1.2 forbids", s)
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return fmt.Errorf("redirect_uri %q has no host", s)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("redirect_uri %q has spaces or control characters", s)
	}
	return nil
}

// Lookup returns the client with id, or nil.
func (r *Registry) Lookup(id string) *Client {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// Authenticate finds the token request's client and checks how it
// authenticated: a confidential client by its secret (client_secret_basic
// or client_secret_post), a public client by no secret at all. Any
// mismatch is invalid_client (401); the error does not say which part.
func (r *Registry) Authenticate(tr *TokenRequest) (*Client, *Error) {
	c := r.Lookup(tr.ClientID)
	fail := &Error{Code: "invalid_client", Status: 401, Description: "client authentication failed", Basic: tr.AuthMethod == AuthBasic}
	if c == nil {
		return nil, fail
	}
	if c.Public {
		// No secret at all; Basic with an empty password is the same
		// (golang.org/x/oauth2 tries it first when it auto-detects).
		if tr.AuthMethod == AuthPost || tr.ClientSecret != "" {
			return nil, fail
		}
		return c, nil
	}
	if tr.AuthMethod == AuthNone || !c.SecretMatches(tr.ClientSecret) {
		return nil, fail
	}
	return c, nil
}
