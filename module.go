// Package plexauth is a Caddy HTTP handler that puts Plex sign-in in front
// of any site: only the people who can reach your Plex Media Server (or the
// Plex accounts you list) get through.
package plexauth

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/appsignin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidcprovider"
	"github.com/caddy-plexauth/caddy-plexauth/internal/ownerlist"
	"github.com/caddy-plexauth/caddy-plexauth/internal/pages"
	"github.com/caddy-plexauth/caddy-plexauth/internal/placeholderfacts"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

func init() {
	caddy.RegisterModule(PlexAuth{})
}

// PlexAuth admits a request only when it carries the session cookie of a
// Plex account the rules admit. It is the `plex_auth` Caddyfile directive.
//
// An unauthenticated browser navigation (GET or HEAD accepting text/html)
// is redirected with 302 to `{prefix}/login?rd=<path and query>`; any other
// unauthenticated request (XHR, API client, WebSocket, POST) gets 401 with a
// short body, JSON when the client accepts JSON. A signed-in account the
// rules refuse gets 403. With owner_token, a block that cannot decide (the
// token's account does not own the configured servers, or no list of the
// owner's has been read or stored yet) answers 503, and its sign-in
// endpoints answer 503 while plex.tv rejects the token.
//
// Under `prefix` (default `/_plexauth`) the handler serves its own
// endpoints: `login` (the sign-in page), `start` (on a POST from this site,
// creates a plex.tv pin and sends the browser to Plex), `callback` (where
// Plex sends it back), `poll` (where the login page's script, having opened
// Plex in a popup, learns how the sign-in ended: JSON with status pending,
// ok, denied, expired, limited or error), `logout` (which asks first when
// another site sent the request), and the login page's `login.js` and
// `logo`. The plex.tv calls that start, callback and poll cause are limited
// per client IP and for all clients together; a request over a limit gets
// 429 with Retry-After.
//
// A signed-in request goes to the next handler with the placeholders
// `{http.auth.user.id}` (Plex account id), `{http.auth.user.username}`,
// `{http.auth.user.email}`, `{http.auth.user.uuid}`,
// `{http.auth.user.title}` and `{http.auth.user.tier}` (owner, home or
// friend), and the request headers Remote-User, Remote-Email, Remote-Name
// and Remote-Groups. Whatever the client sent under those names is removed
// first, signed in or not: in any spelling a CGI or FastCGI application
// reads as the same variable (Remote_User, remote.user), and as trailers.
// The session cookie is removed from the Cookie header and the Plex token
// is never forwarded. No call to plex.tv is made on this
// path. Any other answer leaves the placeholders empty, whatever a handler
// before plex_auth set them to (the access log reads {http.auth.user.id}
// as user_id), unless an outer plex_auth admitted the request.
//
// Every sign-in, refusal (with its reason), sign-out and session ended by a
// re-check is logged at info level under the logger
// `http.handlers.plex_auth.audit`, with the Plex account id and username
// and the client IP; never a token or a cookie value. Metrics named
// `caddy_plex_auth_*` (sign-ins by result, sessions in memory, re-checks,
// calls to plex.tv and their duration, session store errors) are served
// with Caddy's at the admin endpoint's /metrics.
type PlexAuth struct {
	// Product is the name sent as X-Plex-Product: what users see on plex.tv
	// when they sign in, and in their list of authorized devices. Default: Caddy.
	// A name that says which site asks ("Media Tools at tools.example.com")
	// lets a user asked to approve a pin they did not start see that it is
	// not theirs (device-code phishing; see docs/security.md).
	Product string `json:"product,omitempty"`

	// ClientID is the X-Plex-Client-Identifier. Default: generated once and
	// kept in Caddy's storage, so Plex sees one device per installation.
	ClientID string `json:"client_id,omitempty"`

	// Servers are the machine identifiers of the Plex Media Servers whose
	// users are admitted (see http://<server>:32400/identity).
	Servers []string `json:"servers,omitempty"`

	// AllowTiers restricts which kinds of access to those servers are
	// admitted: owner, home, friend. Default: all three.
	AllowTiers []string `json:"allow_tiers,omitempty"`

	// AllowUsers admits only these Plex accounts. An entry of digits only
	// is an account id, one containing @ an email, any other a username;
	// each is compared with that field of the account only. Emails and
	// usernames ignore ASCII case; other characters must match exactly.
	// Prefer ids: a username can be renamed. With Servers, both must hold.
	AllowUsers []string `json:"allow_users,omitempty"`

	// AllowAnyPlexUser admits every Plex account. It must be set explicitly
	// when neither Servers nor AllowUsers is, so that admitting every Plex
	// account on earth is a deliberate choice.
	AllowAnyPlexUser bool `json:"allow_any_plex_user,omitempty"`

	// OwnerToken is the Plex token of the account that owns the configured
	// servers. With it, access is decided from the owner's side: that
	// account is owner, the owner's Plex Home members are home, and the
	// people a configured server is shared with (invitation accepted) are
	// friend; the signing-in account's own server list is not consulted.
	// The owner's list is read from plex.tv in the background at start,
	// every Revalidate, and when someone not on it signs in (at most once
	// every 30s), and kept in Caddy's storage, sealed under a key derived
	// from the token, so that a restart during a plex.tv outage decides as
	// before. A session's own re-check then only asks whether its token is
	// still valid, at most once a day. Placeholders such as {env.PLEX_TOKEN}
	// are expanded; the token is never logged, shown or stored in clear.
	// Requires Servers. Default: none; each account's own server list at
	// plex.tv decides.
	OwnerToken string `json:"owner_token,omitempty"`

	// SessionTTL is how long a sign-in lasts. Default: 168h.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// CookieName is the session cookie's name. Default: plex_auth_session.
	// The login state cookie is named after it with the suffix _state.
	CookieName string `json:"cookie_name,omitempty"`

	// CookieDomain, when set, is the session cookie's Domain attribute, so
	// one sign-in covers sibling sites: every site under it whose plex_auth
	// has the same cookie_name, secret and store accepts the sign-in, each
	// by its own rules, and a sign-out on any of them ends it on all. The
	// login state cookie stays host-only: a sign-in ends on the host it
	// began on. A sign-in on a host the domain does not cover, where
	// browsers drop the cookie, is logged as a warning (once). Pair it with
	// RedirectDomains `.<domain>` so a return URL may name a sibling.
	// Default: host-only.
	CookieDomain string `json:"cookie_domain,omitempty"`

	// Prefix is the path under which the module's own endpoints live.
	// Default: /_plexauth.
	Prefix string `json:"prefix,omitempty"`

	// RedirectDomains are extra hosts a post-login return URL may point at,
	// besides the request's own host. `.example.com` admits every subdomain.
	RedirectDomains []string `json:"redirect_domains,omitempty"`

	// PlexTVURL is the plex.tv API base. Default: https://plex.tv.
	PlexTVURL string `json:"plex_tv_url,omitempty"`

	// PlexAppURL is the Plex sign-in page. Default: https://app.plex.tv/auth.
	PlexAppURL string `json:"plex_app_url,omitempty"`

	// Timeout bounds every call to plex.tv. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Revalidate is how long a session's identity and servers are trusted
	// before they are fetched again from plex.tv. The request that finds
	// them due goes through at once; the check runs in the background. A
	// token plex.tv no longer accepts (any 4xx but 429) ends the session;
	// lost access gets 403 from each block whose rules no longer admit the
	// account; plex.tv failing keeps it (with backoff). Default: 10m.
	Revalidate caddy.Duration `json:"revalidate,omitempty"`

	// Store is where sessions persist beyond memory: "caddy" (Caddy's
	// configured storage, the default), "redis" (StoreURL), for several
	// Caddy instances behind one load balancer, or "memory" (nowhere: a
	// restart signs everyone out).
	Store string `json:"store,omitempty"`

	// StoreURL is the Redis URL (redis://[:password@]host:port/db) when
	// Store is "redis". Placeholders such as {env.REDIS_URL} are expanded.
	StoreURL string `json:"store_url,omitempty"`

	// CacheTTL is how long memory trusts a session before reading the store
	// again: the bound on how long a session ended on another instance
	// (logout, re-check) keeps working here. Default: 1m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// Secrets are the key material for the state and session cookies; the
	// first seals new cookies, all open existing ones, so a secret can be
	// rotated by putting the new one first. Placeholders such as
	// {env.PLEX_AUTH_SECRET} are expanded. Default: a random secret
	// generated once and kept in Caddy's storage.
	Secrets []string `json:"secrets,omitempty"`

	// LoginTitle is the heading of the login page. Default: "Sign in to
	// <product>".
	LoginTitle string `json:"login_title,omitempty"`

	// LoginLogo is the image at the top of the module's pages, in place of
	// the built-in mark: an absolute http(s) URL (the page's
	// Content-Security-Policy then admits images from that origin), or the
	// path of an image file (at most 512 KiB), read at start and served
	// under `{prefix}/logo` so that it loads without a session.
	LoginLogo string `json:"login_logo,omitempty"`

	// LoginTemplate is the path of an html/template file that replaces the
	// login page. It is parsed, and tried once, at start; a template that
	// fails names the file in the error. The fields it can use are listed
	// in docs/login_template.md.
	LoginTemplate string `json:"login_template,omitempty"`

	// AppSignIn, when set, signs every admitted user into the application
	// behind this block (Overseerr, Seerr, Jellyseerr, Tautulli) with
	// their Plex token; see AppSignIn. Default: off.
	AppSignIn *AppSignIn `json:"app_sign_in,omitempty"`

	// OIDCClients make the block an OpenID Connect provider for these
	// applications (oidc.go, docs/oidc.md), its issuer the site's origin
	// plus the prefix. Default: none; the provider's endpoints answer 404.
	OIDCClients []OIDCClient `json:"oidc_clients,omitempty"`

	logger        *zap.Logger
	audit         *zap.Logger // http.handlers.plex_auth.audit (audit.go)
	revalidate    time.Duration
	cacheTTL      time.Duration
	poolKey       string
	plex          *plextv.Client
	sessions      *session.Cache
	stateSealer   *sealer
	sessionSealer *sealer
	stateCookie   string
	sessionVar    string // request var holding the session once its cookie is stripped
	// placeholderFacts: per server of the config, whether a map writes a
	// user placeholder and whether a handler may Set one (placeholders.go).
	placeholderFacts []placeholderfacts.Facts
	server           *caddyhttp.Server // the one this handler serves on, if Provision could tell (server.go)
	prefixSlash      string
	prefixByte       byte              // the prefix's second byte, the first after its '/' (ServeHTTP)
	allowUsers       *access.AllowList // nil: allow_users not set
	allowTiers       map[string]bool
	judgeKey         *session.Judge     // names these rules' Verdicts on sessions; nil: none kept (rules.go)
	verdicts         []*session.Verdict // one per answer the rules can give
	pages            *pages.Set
	appOrigin        string
	limits           *signinLimits
	limitsKey        string
	owner            *ownerlist.List        // with owner_token
	app              *appsignin.Block       // with app_sign_in (appsignin.go)
	oidc             *oidcprovider.Provider // with oidc_client (oidc.go)

	cookieDomainWarned uint32 // set once the cookie_domain warning is logged

	// rechecks is the re-check backoff of the sessions' cache, shared with
	// every handler using it (revalidate.go).
	rechecks *recheck.Backoff
}

// CaddyModule returns the Caddy module information.
func (PlexAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.plex_auth",
		New: func() caddy.Module { return new(PlexAuth) },
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *PlexAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.isEndpoint(r.URL.Path) {
		h.dropIdentity(r, h.serverOf(r))
		return h.serveEndpoint(w, r)
	}
	var at cookieheader.Spot
	s, _, err := h.sessionAt(r, &at)
	if s == nil && err == nil {
		s = h.sessionFromEarlierHandler(r)
	}
	tier, ok := "", false
	if err == nil && s != nil {
		tier, ok = h.admit(s)
	}
	srv := h.serverOf(r) // server.go
	stripOtherSpellings(r, srv)
	if !ok {
		for _, k := range [...]string{"Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups"} {
			delete(r.Header, k)
		}
		h.dropIdentity(r, srv)
		switch {
		case err != nil:
			return h.storeUnavailable(w, r)
		case s == nil:
			return h.unauthenticated(w, r)
		}
		return h.forbidden(w, r, s)
	}

	// Dropping the session cookie first leaves room in the header map for
	// the identity headers; a full map would grow, which costs more than
	// all the rest of this.
	at.Cut(r.Header, h.CookieName)
	if h.app != nil {
		h.app.Serve(w, r, s) // app_sign_in (internal/appsignin)
	}
	h.setIdentity(r, srv, s, tier)
	return next.ServeHTTP(w, r)
}

// isEndpoint reports whether path is the prefix or under it: plex_auth's
// own pages. One byte first: most paths differ from the prefix right
// after the '/', and that spares the call the whole comparison makes
// (with the registers ServeHTTP saves around it). A prefix has two bytes
// or more (setPrefix, Validate).
func (h *PlexAuth) isEndpoint(path string) bool {
	return len(path) > 1 && path[1] == h.prefixByte && (strings.HasPrefix(path, h.prefixSlash) || path == h.Prefix)
}

// sessionFromRequest returns the live session the request's cookie names,
// with its id, or nil. A session whose account lost access is returned, so
// the refusal page can name the account; admit refuses it. err is set only
// when the session store could not be asked.
func (h *PlexAuth) sessionFromRequest(r *http.Request) (*Session, string, error) {
	var at cookieheader.Spot
	return h.sessionAt(r, &at)
}

// sessionAt is sessionFromRequest, also saying in at where the cookie is
// in the header, so that ServeHTTP strips it without reading the header
// again. at is the caller's: a Spot returned by value is copied twice on
// the way (about 35 instructions a request, bench/run.sh -handler).
func (h *PlexAuth) sessionAt(r *http.Request, at *cookieheader.Spot) (*Session, string, error) {
	v, spot := cookieheader.Locate(r.Header, h.CookieName)
	*at = spot
	s, id, err := h.sessionFromCookie(r, v)
	if s == nil && err == nil {
		// A browser that holds the cookie in two scopes (host-only and
		// cookie_domain, after that option changed) sends the older
		// first: a stale one must not hide a live one.
		if vs := cookieheader.Values(r.Header, h.CookieName); len(vs) > 1 {
			for _, v := range vs[1:] {
				if s, id, err = h.sessionFromCookie(r, v); s != nil || err != nil {
					break
				}
			}
		}
	}
	return s, id, err
}

// sessionFromCookie is sessionFromRequest for one value of the cookie.
func (h *PlexAuth) sessionFromCookie(r *http.Request, value string) (*Session, string, error) {
	if value == "" {
		return nil, "", nil
	}
	now := time.Now()
	// A value opened before skips the opening, and the lookup while memory
	// still holds, unchanged, the session it found
	// (internal/session/verified.go says why that is as safe).
	table := h.sessionSealer.verified
	e, known := table.Get(h.CookieName, value, now)
	id, sealedUntil := e.ID, e.Sealed
	var s *Session
	var err error
	if known && h.sessions.Trusts(e.Session, now, h.cacheTTL) {
		s = e.Session
	} else {
		if !known {
			buf := openBufs.Get().(*openBuf)
			raw, until, oerr := h.sessionSealer.OpenUntil(h.CookieName, value, now, buf[:])
			if oerr == nil && len(raw) == sessionIDLen {
				id, sealedUntil = string(raw), until
			}
			openBufs.Put(buf)
			if id == "" {
				return nil, "", nil
			}
		}
		s, err = h.sessions.Lookup(id, now, h.cacheTTL)
	}
	// A session lives by the TTL of the handler checking it too, so a
	// stricter site is not held open by a laxer one's cookie.
	ends := time.Time{}
	if s != nil {
		ends = s.Created.Add(time.Duration(h.SessionTTL))
		if s.Expires.Before(ends) {
			ends = s.Expires
		}
	}
	if s == nil || !now.Before(ends) {
		if known {
			table.Drop(value)
		}
		return nil, "", err
	}
	if !known || e.Session != s {
		table.Put(h.CookieName, value, id, s, sealedUntil, ends.Unix())
	}
	h.maybeRevalidate(r, id, s, now)
	return s, id, nil
}

// sessionFromEarlierHandler is the session an earlier plex_auth handler on
// this request found and admitted by its own rules, or nil. It still lives
// by this handler's session_ttl.
func (h *PlexAuth) sessionFromEarlierHandler(r *http.Request) *Session {
	s, _ := caddyhttp.GetVar(r.Context(), h.sessionVar).(*Session)
	if s == nil {
		return nil
	}
	now := time.Now()
	if !now.Before(s.Expires) || !now.Before(s.Created.Add(time.Duration(h.SessionTTL))) {
		return nil
	}
	return s
}

// Interface guards
var (
	_ caddy.Module                = (*PlexAuth)(nil)
	_ caddy.Provisioner           = (*PlexAuth)(nil)
	_ caddy.Validator             = (*PlexAuth)(nil)
	_ caddy.CleanerUpper          = (*PlexAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*PlexAuth)(nil)
)
