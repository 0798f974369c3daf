// Package oidcprovider is the OpenID Connect provider's HTTP endpoints:
// discovery, JWKS, authorize, token, userinfo and end_session, each
// parsing its request, answering with the status, body and headers the
// specifications name (internal/oidc holds the protocol they speak), and
// counting and auditing what it answered.
//
// It knows no Caddy and no session: what only the caller knows, who is
// signed in on a request and what the block's rules decide of that
// account, ending a browser's sessions, the pages a browser is shown and
// the audit trail, comes in through Host, a struct of funcs the caller
// fills once. The clients' own rules (allow_tier, allow_users of an
// oidc_client) are the provider's, applied after the block's
// (internal/access compiles and matches them). A Provider is not modified after New, so it may serve any
// number of requests at once.
package oidcprovider

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// Lifetimes. The tokens live an hour: a session that ends (logout,
// re-check, admin API) refuses new codes at once, but tokens already
// issued live until they expire. A replaced signing key stays published
// for TokenTTL plus KeyMargin, so every token it signed still verifies.
const (
	TokenTTL  = time.Hour
	KeyMargin = 5 * time.Minute
)

// sessionSeal names the sealed session id a grant carries.
const sessionSeal = "oidc session"

// Account is who is signed in on a request, as Host.SignedIn found them.
type Account struct {
	// Session is the session's id. It is sealed (Config.Sealer) before
	// it goes into a code's grant: the relying party holds the code that
	// opens the grant, and must not learn the id behind the cookie.
	Session string
	// Identity is what the tokens and userinfo say of the account,
	// Groups left empty: the provider puts there the tier Judge finds.
	Identity oidc.Identity
	// AuthTime is when the session began (auth_time).
	AuthTime time.Time
	// Facts are what a client's allow_users reads (ID and the folded
	// username and email).
	Facts access.Facts
	// Ref is the caller's own handle on the session; the provider passes
	// it back to Judge and Audit untouched.
	Ref any
}

// Host is what the provider asks of its caller. Every func must be set.
type Host struct {
	// Issuer is the provider's issuer for r: the site's origin as the
	// browser sees it, plus the prefix; no trailing slash.
	Issuer func(r *http.Request) string
	// Prefix is the prefix as the browser sees it: the login page is
	// Prefix + "/login".
	Prefix func(r *http.Request) string
	// SignedIn is the account signed in on r, nil when nobody is; err
	// only when the session store could not be asked.
	SignedIn func(r *http.Request) (*Account, error)
	// Judge is what the block's rules decide of a; the client's own
	// rules (ClientOptions) are applied after them, by the provider.
	Judge func(a *Account) access.Decision
	// Alive reports whether the session id is still there and not
	// expired at now; err when the store did not answer.
	Alive func(id string, now time.Time) (bool, error)
	// EndSessions ends every session the browser presents on r and
	// expires its cookie, as the module's own logout does.
	EndSessions func(w http.ResponseWriter, r *http.Request, now time.Time)
	// CrossSite reports whether r comes from a page of another site.
	CrossSite func(r *http.Request) bool
	// ConfirmSignOut answers the page that asks the user whether to sign
	// out: rd is where the browser goes when they do not, signOut the
	// URL that signs out.
	ConfirmSignOut func(w http.ResponseWriter, r *http.Request, rd, signOut string)
	// Fail answers a short error a browser shows (status, message); it
	// sets Cache-Control: no-store.
	Fail func(w http.ResponseWriter, r *http.Request, status int, msg string)
	// StoreFailed is told of an error of the code store, as of the
	// session store's.
	StoreFailed func(err error)
	// Audit writes an audit line, msg with fields, about a (nil when
	// nobody is signed in, or the account is not known for sure) and the
	// request r.
	Audit func(r *http.Request, a *Account, msg string, fields ...zap.Field)
}

// Config is what New builds a Provider from.
type Config struct {
	// Clients are the registered relying parties, as configured
	// (ClientsError finds nothing wrong with them).
	Clients []ClientOptions
	// Expand expands the placeholders of a client's secret.
	Expand func(string) string
	// Keys is where the signing keys are kept; New sets Keep (TokenTTL
	// plus KeyMargin).
	Keys oidc.KeyringConfig
	// Codes keeps the authorization codes, shared by every instance that
	// may redeem them.
	Codes oidc.CodeStore
	// Sealer seals the session id a grant carries (seal.Sealer does).
	Sealer interface {
		Seal(name string, payload []byte, expires time.Time) string
		Open(name, value string, now time.Time, dst []byte) ([]byte, error)
	}
	// Realm is the realm of WWW-Authenticate (the product's name).
	Realm string
	// MaxForm bounds what an endpoint reads of a body.
	MaxForm int64
	// StoreTimeout bounds each call to the code store.
	StoreTimeout time.Duration
	// Logger logs what an operator must fix (a token that cannot be
	// signed); never a code, a token or a secret.
	Logger *zap.Logger
	Host   Host
}

// Provider serves the endpoints.
type Provider struct {
	Config
	reg   *oidc.Registry
	rules map[string]clientRules
	keys  *oidc.Keyring
}

// New expands the clients' secrets (a secret written in the configuration
// itself is logged as a warning), compiles their rules, and reads, or
// makes, the signing keys. Its errors say which client is wrong, or that
// the key storage failed.
func New(ctx context.Context, c Config) (*Provider, error) {
	c.Keys.Keep = TokenTTL + KeyMargin
	p := &Provider{Config: c}
	clients, rules, err := compileClients(&c)
	if err != nil {
		return nil, err
	}
	if p.reg, err = oidc.NewRegistry(clients); err != nil {
		return nil, err
	}
	p.rules = rules
	if p.keys, err = oidc.NewKeyring(ctx, c.Keys); err != nil {
		return nil, err
	}
	return p, nil
}

// Serve serves the endpoint name (a path under the issuer, without its
// leading slash) and reports true, or reports false when name is none of
// the provider's. A method the endpoint does not take is answered 405
// with Allow; an OPTIONS request to an endpoint a script calls, a CORS
// preflight.
func (p *Provider) Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	var serve func(http.ResponseWriter, *http.Request)
	var methods []string
	switch "/" + name {
	case oidc.PathDiscovery:
		serve, methods = p.serveDiscovery, []string{http.MethodGet, http.MethodHead}
	case oidc.PathJWKS:
		serve, methods = p.serveJWKS, []string{http.MethodGet, http.MethodHead}
	case oidc.PathAuthorize:
		serve, methods = p.serveAuthorize, []string{http.MethodGet, http.MethodPost}
	case oidc.PathToken:
		serve, methods = p.serveToken, []string{http.MethodPost}
	case oidc.PathUserinfo:
		serve, methods = p.serveUserinfo, []string{http.MethodGet, http.MethodPost}
	case oidc.PathEndSession:
		serve, methods = p.serveEndSession, []string{http.MethodGet, http.MethodPost}
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
	for _, m := range methods {
		if r.Method == m {
			if name == oidc.PathToken[1:] || name == oidc.PathUserinfo[1:] {
				w.Header().Set("Access-Control-Allow-Origin", "*")
			}
			serve(w, r)
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	p.Host.Fail(w, r, http.StatusMethodNotAllowed, "method not allowed")
	return true
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

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	// Public, and read by single-page apps from their own origin.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, oidc.Discovery(p.Host.Issuer(r)))
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// A minute's caching: a relying party that meets a new kid fetches
	// again anyway.
	hdr.Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(p.keys.Get(r.Context()).JWKS(time.Now()))
}
