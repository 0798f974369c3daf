package plexauth

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The OpenID Connect provider (docs/oidc.md): with `oidc_client` in a
// block, the block is a provider whose issuer is the site's origin plus the
// prefix, and apps that speak OpenID Connect sign their users in with Plex
// through it. The protocol is internal/oidc's; here are the endpoints, the
// rules, the keys in Caddy's storage and the codes in the session store.

// The provider's signing keys live in Caddy's storage next to the cookie
// secret (identity.go), so instances sharing a storage sign with the same
// key and publish the same JWKS (oidc.Keyring).
const (
	storageOIDCKeys = "plex_auth/oidc_keys"
	oidcKeysLock    = "plex_auth_oidc_keys"
)

// Lifetimes. The tokens live an hour: a Plex session that ends (logout,
// re-check, admin API) refuses new codes at once, but tokens already
// issued live until they expire.
const (
	oidcTokenTTL = time.Hour
	// oidcKeyRotateEvery is the age at which the signing key is replaced
	// (at a start or reload, or at the first use after that age); the old
	// key stays published for oidcTokenTTL plus oidcKeyMargin.
	oidcKeyRotateEvery = 30 * 24 * time.Hour
	oidcKeyMargin      = 5 * time.Minute
	// oidcSessionSeal names the sealed session id a grant carries.
	oidcSessionSeal = "oidc session"
)

// OIDCClient is an application that signs its users in with plex_auth as
// its OpenID Connect provider (the `oidc_client` option).
type OIDCClient struct {
	// ID is the client_id the application is configured with.
	ID string `json:"id"`
	// Secret is the client_secret of a confidential client (an app with a
	// server side). Placeholders such as {env.GRAFANA_OIDC_SECRET} are
	// expanded; a secret written in the configuration itself is logged as
	// a warning at start, as an owner_token is.
	Secret string `json:"secret,omitempty"`
	// Public is a client that cannot keep a secret (a mobile app): it has
	// none and must use PKCE (S256).
	Public bool `json:"public,omitempty"`
	// RedirectURIs are where codes may be sent, compared exactly (no
	// prefix, no wildcard). Custom schemes are allowed. At least one.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// PostLogoutRedirectURIs are where end_session may send the browser
	// after signing it out. Default: the RedirectURIs.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// AllowTiers narrows the block's allow_tier for this client: an
	// account must hold one of these tiers too. Requires server.
	AllowTiers []string `json:"allow_tiers,omitempty"`
	// AllowUsers narrows the block's rules for this client: the account
	// must be listed here too (same syntax as the block's allow_users).
	AllowUsers []string `json:"allow_users,omitempty"`
}

// check says what is wrong with the client on its own, or nil.
func (c *OIDCClient) check() error {
	return oidc.CheckClient(&oidc.Client{ID: c.ID, Secret: c.Secret, Public: c.Public,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs})
}

// oidcClientsError says what is wrong with the block's oidc_client options
// together with the block, or "".
func (h *PlexAuth) oidcClientsError() string {
	seen := make(map[string]bool)
	for i := range h.OIDCClients {
		c := &h.OIDCClients[i]
		if err := c.check(); err != nil {
			return err.Error()
		}
		if seen[c.ID] {
			return fmt.Sprintf("oidc_client %q is given twice", c.ID)
		}
		seen[c.ID] = true
		if len(c.AllowTiers) > 0 && len(h.Servers) == 0 {
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

// oidcProvider is what a block with oidc_client serves with.
type oidcProvider struct {
	reg   *oidc.Registry
	rules map[string]oidcClientRules
	keys  *oidc.Keyring
	codes oidc.CodeStore
}

// oidcClientRules are a client's own rules, stricter than the block's.
type oidcClientRules struct {
	tiers map[string]bool   // nil: the block's
	users *access.AllowList // nil: the block's
}

// provisionOIDC sets up the provider when the block has oidc_client.
func (h *PlexAuth) provisionOIDC(ctx caddy.Context) error {
	if len(h.OIDCClients) == 0 {
		return nil
	}
	if msg := h.oidcClientsError(); msg != "" {
		return errors.New(msg)
	}
	if err := registerOIDCMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	repl := caddy.NewReplacer()
	p := &oidcProvider{rules: make(map[string]oidcClientRules)}
	var clients []oidc.Client
	for _, c := range h.OIDCClients {
		secret := c.Secret
		if secret != "" {
			if !strings.Contains(secret, "{") {
				h.logger.Warn("the secret of oidc_client is written in the configuration itself, so Caddy keeps it in its saved config (autosave.json) and shows it on its admin API; give it as a placeholder such as {env.OIDC_SECRET}",
					zap.String("client", c.ID))
			}
			// Never echoed: it is a credential.
			if secret = strings.TrimSpace(repl.ReplaceAll(secret, "")); len(secret) < 16 {
				return fmt.Errorf("oidc_client %s: the secret is shorter than 16 characters (an unset {env.…} placeholder expands to nothing)", c.ID)
			}
		}
		clients = append(clients, oidc.Client{ID: c.ID, Secret: secret, Public: c.Public,
			RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs})
		var cr oidcClientRules
		if len(c.AllowTiers) > 0 {
			cr.tiers = make(map[string]bool)
			for _, t := range c.AllowTiers {
				cr.tiers[strings.ToLower(t)] = true
			}
		}
		if len(c.AllowUsers) > 0 {
			var err error
			if cr.users, err = access.NewAllowList(c.AllowUsers); err != nil {
				return fmt.Errorf("oidc_client %s: %v", c.ID, err)
			}
		}
		p.rules[c.ID] = cr
	}
	var err error
	if p.reg, err = oidc.NewRegistry(clients); err != nil {
		return err
	}
	if p.keys, err = oidc.NewKeyring(ctx, oidc.KeyringConfig{
		Storage: ctx.Storage(), Key: storageOIDCKeys, Lock: oidcKeysLock,
		RotateEvery: oidcKeyRotateEvery, Keep: oidcTokenTTL + oidcKeyMargin, Timeout: session.StoreTimeout,
	}); err != nil {
		return err
	}
	p.codes = codeStoreFor(h.sessions.Store())
	h.oidc = p
	return nil
}

// serveOIDC serves the provider's endpoints; false when name is none of
// them.
func (h *PlexAuth) serveOIDC(w http.ResponseWriter, r *http.Request, name string) bool {
	var serve func(http.ResponseWriter, *http.Request)
	var methods []string
	switch "/" + name {
	case oidc.PathDiscovery:
		serve, methods = h.serveDiscovery, []string{http.MethodGet, http.MethodHead}
	case oidc.PathJWKS:
		serve, methods = h.serveJWKS, []string{http.MethodGet, http.MethodHead}
	case oidc.PathAuthorize:
		serve, methods = h.serveAuthorize, []string{http.MethodGet, http.MethodPost}
	case oidc.PathToken:
		serve, methods = h.serveToken, []string{http.MethodPost}
	case oidc.PathUserinfo:
		serve, methods = h.serveUserinfo, []string{http.MethodGet, http.MethodPost}
	case oidc.PathEndSession:
		serve, methods = h.serveEndSession, []string{http.MethodGet, http.MethodPost}
	default:
		return false
	}
	if r.Method == http.MethodOptions && name != "authorize" && name != "end_session" {
		// A CORS preflight from a single-page app (public client): the
		// endpoints it calls from script use no cookie, so any origin
		// may; authorize and end_session are navigations, never fetched.
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		hdr.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if allowMethods(w, r, methods...) {
		if name == oidc.PathToken[1:] || name == oidc.PathUserinfo[1:] {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		serve(w, r)
	}
	return true
}

// issuer is the provider's issuer for this request: the site's origin as
// the browser sees it, plus the prefix.
func (h *PlexAuth) issuer(r *http.Request) string {
	return requestScheme(r) + "://" + r.Host + h.externalPrefix(r)
}

// oidcIdentity is what the tokens and userinfo say of s's account, with
// the tier this block found. The app sign-in's whoami answers the same
// facts (account id, uuid, username, title, email, tier).
func oidcIdentity(s *Session, tier string) oidc.Identity {
	id := oidc.Identity{Subject: s.UUID, PreferredUsername: s.Username, Name: s.Title, Email: s.Email, Picture: s.Thumb, PlexUserID: s.UserID}
	if id.Subject == "" {
		id.Subject = "plex-" + strconv.FormatInt(s.UserID, 10)
	}
	if id.Name == "" {
		id.Name = s.Username
	}
	if tier != "" {
		id.Groups = []string{tier}
	}
	return id
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (h *PlexAuth) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	// Public, and read by single-page apps from their own origin.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, oidc.Discovery(h.issuer(r)))
}

func (h *PlexAuth) serveJWKS(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// A minute's caching: a relying party that meets a new kid fetches
	// again anyway.
	hdr.Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(h.oidc.keys.Get(r.Context()).JWKS(time.Now()))
}
