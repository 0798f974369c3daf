package plexauth

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidcprovider"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The OpenID Connect provider (docs/oidc.md): with `oidc_client` in a
// block, the block is a provider whose issuer is the site's origin plus the
// prefix, and apps that speak OpenID Connect sign their users in with Plex
// through it. The protocol is internal/oidc's, the endpoints and the
// clients' own rules internal/oidcprovider's; here are the options, the
// keys in Caddy's storage, the codes in the session store, and what the
// endpoints ask of the block (oidcprovider.Host).

// The provider's signing keys live in Caddy's storage next to the cookie
// secret (identity.go), so instances sharing a storage sign with the same
// key and publish the same JWKS (oidc.Keyring).
const (
	storageOIDCKeys = "plex_auth/oidc_keys"
	oidcKeysLock    = "plex_auth_oidc_keys"
)

// oidcKeyRotateEvery is the age at which the signing key is replaced (at
// a start or reload, or at the first use after that age); the old key
// stays published as long as the tokens it signed live
// (oidcprovider.TokenTTL plus KeyMargin).
const oidcKeyRotateEvery = 30 * 24 * time.Hour

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
func (c *OIDCClient) check() error { return (*oidcprovider.ClientOptions)(c).Check() }

// oidcClientsError says what is wrong with the block's oidc_client options
// together with the block, or "".
func (h *PlexAuth) oidcClientsError() string {
	return oidcprovider.ClientsError(h.oidcClientOptions(), len(h.Servers) > 0)
}

// oidcClientOptions are the block's clients as the provider takes them:
// OIDCClient and oidcprovider.ClientOptions have the same fields (tags
// aside), so a field added to one and not the other stops the build here.
func (h *PlexAuth) oidcClientOptions() []oidcprovider.ClientOptions {
	opts := make([]oidcprovider.ClientOptions, len(h.OIDCClients))
	for i, c := range h.OIDCClients {
		opts[i] = oidcprovider.ClientOptions(c)
	}
	return opts
}

// provisionOIDC sets up the provider when the block has oidc_client.
func (h *PlexAuth) provisionOIDC(ctx caddy.Context) error {
	if len(h.OIDCClients) == 0 {
		return nil
	}
	if msg := h.oidcClientsError(); msg != "" {
		return errors.New(msg)
	}
	if err := oidcprovider.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	repl := caddy.NewReplacer()
	var err error
	h.oidc, err = oidcprovider.New(ctx, oidcprovider.Config{
		Clients: h.oidcClientOptions(), Expand: func(s string) string { return repl.ReplaceAll(s, "") },
		Keys: oidc.KeyringConfig{Storage: ctx.Storage(), Key: storageOIDCKeys, Lock: oidcKeysLock,
			RotateEvery: oidcKeyRotateEvery, Timeout: session.StoreTimeout},
		Codes: codeStoreFor(h.sessions.Store()), Sealer: h.sessionSealer,
		Realm: h.Product, MaxForm: maxFormBody, StoreTimeout: session.StoreTimeout, Logger: h.logger,
		Host: oidcprovider.Host{
			Issuer: func(r *http.Request) string { return requestScheme(r) + "://" + r.Host + h.externalPrefix(r) },
			Prefix: h.externalPrefix, SignedIn: h.oidcAccount,
			Judge: func(a *oidcprovider.Account) access.Decision { return h.judge(a.Ref.(*Session)) },
			Alive: func(id string, now time.Time) (bool, error) {
				s, err := h.sessions.Lookup(id, now, h.cacheTTL)
				return s != nil && now.Before(s.Expires), err
			},
			EndSessions: func(w http.ResponseWriter, r *http.Request, now time.Time) { h.endBrowserSessions(w, r, now) }, CrossSite: crossSite,
			ConfirmSignOut: func(w http.ResponseWriter, r *http.Request, rd, signOut string) {
				h.render(w, r, http.StatusOK, "logout", pageData{Title: "Sign out", RD: rd, LogoutURL: signOut})
			},
			Fail: func(w http.ResponseWriter, r *http.Request, status int, msg string) {
				writeStatus(w, r, status, msg, "")
			},
			StoreFailed: h.sessions.StoreResult, Audit: h.auditOIDC,
		},
	})
	return err
}

// Authorization codes live where the sessions do, so that with Redis (or a
// storage several instances share) any instance redeems a code another
// issued (session.CodeStore). The keys are hashes of the codes and the
// values are sealed under keys derived from the codes (internal/oidc): a
// copy of the store opens no grant. memoryCodes holds them for blocks with
// `store memory`: this process only, and across reloads.
var memoryCodes = new(oidc.MemoryCodes)

// codeStoreFor is the code store beside the session store st (nil, or a
// store without one-shot records: memory).
func codeStoreFor(st session.Store) oidc.CodeStore {
	if cs, ok := st.(session.CodeStore); ok {
		return cs
	}
	return memoryCodes
}

// oidcAccount is who is signed in on r, for the provider: what the tokens
// and userinfo say of the account. The app sign-in's whoami answers the
// same facts (account id, uuid, username, title, email, tier).
func (h *PlexAuth) oidcAccount(r *http.Request) (*oidcprovider.Account, error) {
	s, sid, err := h.sessionFromRequest(r)
	if s == nil {
		return nil, err
	}
	id := oidc.Identity{Subject: s.UUID, PreferredUsername: s.Username, Name: s.Title, Email: s.Email, Picture: s.Thumb, PlexUserID: s.UserID}
	if id.Subject == "" {
		id.Subject = "plex-" + strconv.FormatInt(s.UserID, 10)
	}
	if id.Name == "" {
		id.Name = s.Username
	}
	return &oidcprovider.Account{Session: sid, Identity: id, AuthTime: s.Created, Ref: s,
		Facts: access.Facts{ID: s.UserID, FoldedUsername: s.FoldedUsername(), FoldedEmail: s.FoldedEmail()}}, err
}

// auditOIDC writes the provider's audit lines, `oidc code issued` and
// `oidc refused` (reason), under the audit logger (audit.go): the account
// when a is one, else the client and site alone.
func (h *PlexAuth) auditOIDC(r *http.Request, a *oidcprovider.Account, msg string, fields ...zap.Field) {
	from := originOf(r)
	if a == nil {
		h.audit.Info(msg, append(fields, zap.String("client_ip", from.clientIP), zap.String("host", from.host))...)
		return
	}
	h.audit.Info(msg, auditFields(a.Ref.(*Session), from, fields...)...)
}
