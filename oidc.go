package plexauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The OpenID Connect provider (docs/oidc.md): with `oidc_client` in a
// block, the block is a provider whose issuer is the site's origin plus the
// prefix, and apps that speak OpenID Connect sign their users in with Plex
// through it. The protocol is internal/oidc's; here are the endpoints, the
// rules, the keys in Caddy's storage and the codes in the session store.

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
	keys  *oidcKeyring
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
	if p.keys, err = newOIDCKeyring(ctx, ctx.Storage()); err != nil {
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
	_, _ = w.Write(h.oidc.keys.get(r.Context()).JWKS(time.Now()))
}

// serveAuthorize is the authorization endpoint: with no session it sends
// the browser to the login page, which comes back here; with one, the
// block's rules and then the client's decide, and the browser goes to the
// client's redirect URI with a code or access_denied.
func (h *PlexAuth) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		writeStatus(w, r, http.StatusBadRequest, "malformed request parameters", "")
		return
	}
	q := r.Form
	iss := h.issuer(r)
	w.Header().Set("Cache-Control", "no-store")
	ar, ae := oidc.ParseAuthRequest(h.oidc.reg, q)
	if ae != nil {
		h.auditOIDCRefused(r, nil, q.Get("client_id"), ae.Code)
		if !ae.Redirect {
			// Never redirect to a URI that is not registered: that would
			// make this an open redirector (RFC 6749 §4.1.2.1).
			writeStatus(w, r, http.StatusForbidden, "OpenID Connect: "+ae.Description, "")
			return
		}
		http.Redirect(w, r, oidc.ErrorRedirectFor(q, ae, iss), http.StatusFound)
		return
	}
	s, sid, err := h.sessionFromRequest(r)
	switch {
	case err != nil:
		http.Redirect(w, r, ar.ErrorRedirect("temporarily_unavailable", "the session store is not answering", iss), http.StatusFound)
		return
	case s == nil && ar.Prompt == "none":
		http.Redirect(w, r, ar.ErrorRedirect("login_required", "", iss), http.StatusFound)
		return
	case s == nil:
		// Back to this very request after sign-in, as a GET.
		back := h.externalPrefix(r) + oidc.PathAuthorize + "?" + q.Encode()
		http.Redirect(w, r, h.externalPrefix(r)+"/login?rd="+url.QueryEscape(back), http.StatusFound)
		return
	}
	d := h.judge(s)
	why := d.Refusal
	if why == "" {
		why = h.oidc.rules[ar.Client.ID].refusal(s, d.Tier)
	}
	if why != "" {
		h.auditOIDCRefused(r, s, ar.Client.ID, string(why))
		code := "access_denied"
		if why.Unavailable() {
			code = "temporarily_unavailable"
		}
		http.Redirect(w, r, ar.ErrorRedirect(code, "", iss), http.StatusFound)
		return
	}
	now := time.Now()
	g := &oidc.Grant{
		Issuer: iss, ClientID: ar.Client.ID, RedirectURI: ar.RedirectURI, CodeChallenge: ar.CodeChallenge,
		Nonce: ar.Nonce, Scope: ar.Scope, AuthTime: s.Created.Unix(), Identity: oidcIdentity(s, d.Tier),
		// The session id, sealed: the relying party holds the code that
		// opens the grant, and must not learn the id behind the cookie.
		Session: h.sessionSealer.Seal(oidcSessionSeal, []byte(sid), now.Add(oidc.CodeTTL)),
	}
	ctx, cancel := context.WithTimeout(r.Context(), session.StoreTimeout)
	code, err := oidc.Issue(ctx, h.oidc.codes, g, now)
	cancel()
	if err != nil {
		h.sessions.StoreResult(err)
		http.Redirect(w, r, ar.ErrorRedirect("temporarily_unavailable", "the session store is not answering", iss), http.StatusFound)
		return
	}
	h.auditOIDCCode(r, s, ar.Client.ID)
	http.Redirect(w, r, ar.CodeRedirect(code, iss), http.StatusFound)
}

// refusal is why the client's own rules refuse s (holding tier at the
// block's servers), or "".
func (cr oidcClientRules) refusal(s *Session, tier string) access.Refusal {
	if cr.users != nil && !cr.users.Match(s.UserID, s.FoldedUsername(), s.FoldedEmail()) {
		return access.RefusedNotListed
	}
	if cr.tiers != nil && !cr.tiers[tier] {
		return access.RefusedTier
	}
	return ""
}

// Token endpoint results (caddy_plex_auth_oidc_tokens_total{result}).
const (
	tokenOK          = "ok"
	tokenBadClient   = "invalid_client"
	tokenBadGrant    = "invalid_grant"
	tokenReplayed    = "replayed"
	tokenBadRequest  = "invalid_request"
	tokenUnsupported = "unsupported_grant_type"
	tokenUnavailable = "unavailable"
)

// serveToken is the token endpoint: a code, its client's credentials, the
// redirect URI and the PKCE verifier in; an ID token and an access token
// out, or the error RFC 6749 §5.2 names.
func (h *PlexAuth) serveToken(w http.ResponseWriter, r *http.Request) {
	clientLabel := "unknown"
	fail := func(e *oidc.Error, result, reason string) {
		countOIDCToken(clientLabel, result)
		h.auditOIDCTokenRefused(r, clientLabel, reason)
		if e.Status == http.StatusUnauthorized && e.Basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+h.Product+`"`)
		}
		writeJSON(w, e.Status, e.JSON())
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		fail(&oidc.Error{Code: "invalid_request", Status: 400, Description: "the body must be application/x-www-form-urlencoded"}, tokenBadRequest, "malformed")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		fail(&oidc.Error{Code: "invalid_request", Status: 400, Description: "malformed body"}, tokenBadRequest, "malformed")
		return
	}
	tr, e := oidc.ParseTokenRequest(r.Header.Get("Authorization"), r.PostForm)
	if e != nil {
		fail(e, e.Code, e.Code)
		return
	}
	c, e := h.oidc.reg.Authenticate(tr)
	if e != nil {
		fail(e, tokenBadClient, "client_authentication_failed")
		return
	}
	clientLabel = c.ID
	if tr.GrantType != "authorization_code" {
		fail(&oidc.Error{Code: "unsupported_grant_type", Status: 400, Description: "only authorization_code is supported"}, tokenUnsupported, "unsupported_grant_type")
		return
	}
	if tr.Code == "" || tr.RedirectURI == "" {
		fail(&oidc.Error{Code: "invalid_request", Status: 400, Description: "code and redirect_uri are required"}, tokenBadRequest, "missing_parameter")
		return
	}
	now := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), session.StoreTimeout)
	defer cancel()
	badGrant := func(desc, reason string) {
		fail(&oidc.Error{Code: "invalid_grant", Status: 400, Description: desc}, tokenBadGrant, reason)
	}
	g, err := oidc.Redeem(ctx, h.oidc.codes, tr.Code, now, oidcTokenTTL+oidcKeyMargin)
	switch {
	case errors.Is(err, oidc.ErrReplayedCode):
		fail(&oidc.Error{Code: "invalid_grant", Status: 400, Description: "the code was used already; the tokens issued from it are revoked"}, tokenReplayed, "code_replayed")
		return
	case errors.Is(err, oidc.ErrUnknownCode):
		badGrant("the code is unknown or expired", "code_unknown")
		return
	case err != nil:
		h.sessions.StoreResult(err)
		w.Header().Set("Retry-After", "5")
		fail(&oidc.Error{Code: "temporarily_unavailable", Status: 503, Description: "the session store is not answering"}, tokenUnavailable, "store_unavailable")
		return
	}
	switch {
	case g.ClientID != c.ID:
		badGrant("the code was issued to another client", "wrong_client")
		return
	case g.RedirectURI != tr.RedirectURI:
		badGrant("redirect_uri differs from the authorization request's", "wrong_redirect_uri")
		return
	case g.CodeChallenge != "" && tr.CodeVerifier == "":
		fail(&oidc.Error{Code: "invalid_request", Status: 400, Description: "code_verifier is required"}, tokenBadRequest, "pkce_missing")
		return
	case g.CodeChallenge != "" && !oidc.VerifyPKCE(g.CodeChallenge, tr.CodeVerifier):
		badGrant("code_verifier does not match the code_challenge", "pkce_mismatch")
		return
	case g.CodeChallenge == "" && tr.CodeVerifier != "":
		// A verifier for a code issued without a challenge is a
		// downgrade attempt (RFC 9700 §2.1.1).
		badGrant("code_verifier without a code_challenge", "pkce_unexpected")
		return
	}
	// The session the code came from must still be there: a sign-out in
	// the 60 s between code and token refuses the code.
	raw, err := h.sessionSealer.Open(oidcSessionSeal, g.Session, now, nil)
	if err != nil {
		badGrant("the sign-in behind the code ended", "session_ended")
		return
	}
	s, err := h.sessions.Lookup(string(raw), now, h.cacheTTL)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		fail(&oidc.Error{Code: "temporarily_unavailable", Status: 503, Description: "the session store is not answering"}, tokenUnavailable, "store_unavailable")
		return
	}
	if s == nil || !now.Before(s.Expires) {
		badGrant("the sign-in behind the code ended", "session_ended")
		return
	}
	keys := h.oidc.keys.get(r.Context())
	exp := now.Add(oidcTokenTTL).Unix()
	at, err := keys.Sign(oidc.TypeAccessToken, oidc.AccessClaims{
		Issuer: g.Issuer, Audience: c.ID, Expires: exp, IssuedAt: now.Unix(),
		ID: oidc.GrantID(tr.Code), ClientID: c.ID, Scope: g.Scope, Identity: g.Identity,
	})
	var idt string
	if err == nil {
		idt, err = keys.Sign(oidc.TypeIDToken, oidc.IDClaims{
			Issuer: g.Issuer, Audience: c.ID, Expires: exp, IssuedAt: now.Unix(), AuthTime: g.AuthTime,
			Nonce: g.Nonce, AccessTokenHash: oidc.AccessTokenHash(at), Identity: g.Identity,
		})
	}
	if err != nil {
		h.logger.Error("signing OpenID Connect tokens", zap.Error(err))
		fail(&oidc.Error{Code: "temporarily_unavailable", Status: 503, Description: "tokens could not be signed"}, tokenUnavailable, "signing_failed")
		return
	}
	body, _ := json.Marshal(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": int(oidcTokenTTL / time.Second),
		"id_token": idt, "scope": g.Scope,
	})
	countOIDCToken(c.ID, tokenOK)
	writeJSON(w, http.StatusOK, body)
}

// serveUserinfo answers the claims of a valid access token, by GET or POST
// (Core §5.3): the same as the ID token's, whatever the scopes.
func (h *PlexAuth) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	refuse := func(code string) {
		v := `Bearer realm="` + h.Product + `"`
		if code != "" {
			v += `, error="` + code + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
		writeJSON(w, http.StatusUnauthorized, (&oidc.Error{Code: code}).JSON())
	}
	var form url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if r.ParseForm() != nil {
			refuse("invalid_request")
			return
		}
		form = r.PostForm
	}
	tok, ok := oidc.BearerToken(r.Header.Get("Authorization"), form)
	if !ok {
		refuse("invalid_request")
		return
	}
	now := time.Now()
	claims, err := h.oidc.keys.get(r.Context()).VerifyAccessToken(tok, now)
	if err != nil {
		refuse("invalid_token")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), session.StoreTimeout)
	revoked, err := oidc.Revoked(ctx, h.oidc.codes, claims.ID)
	cancel()
	switch {
	case err != nil:
		h.sessions.StoreResult(err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, (&oidc.Error{Code: "temporarily_unavailable"}).JSON())
		return
	case revoked:
		refuse("invalid_token")
		return
	}
	body, _ := json.Marshal(claims.Identity)
	writeJSON(w, http.StatusOK, body)
}

// serveEndSession is RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0): it ends the plex_auth session of the browser and sends it
// to the client's post_logout_redirect_uri, which must be registered. A
// request from another site without an id_token_hint for the signed-in
// account asks the user first, as a logout link from elsewhere does.
func (h *PlexAuth) serveEndSession(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		writeStatus(w, r, http.StatusBadRequest, "malformed request parameters", "")
		return
	}
	now := time.Now()
	hint, clientID, after := r.Form.Get("id_token_hint"), r.Form.Get("client_id"), r.Form.Get("post_logout_redirect_uri")
	var client *oidc.Client
	var hinted *oidc.IDClaims
	if hint != "" {
		var err error
		if hinted, err = h.oidc.keys.get(r.Context()).IDTokenHint(hint, now); err != nil {
			writeStatus(w, r, http.StatusBadRequest, "id_token_hint was not issued here", "")
			return
		}
		if clientID != "" && clientID != hinted.Audience {
			writeStatus(w, r, http.StatusBadRequest, "client_id does not match id_token_hint", "")
			return
		}
		clientID = hinted.Audience
	}
	if clientID != "" {
		if client = h.oidc.reg.Lookup(clientID); client == nil {
			writeStatus(w, r, http.StatusBadRequest, "unknown client_id", "")
			return
		}
	}
	if after != "" && (client == nil || !client.PostLogoutAllowed(after)) {
		// Never redirect to a URI that is not registered.
		writeStatus(w, r, http.StatusBadRequest, "post_logout_redirect_uri is not registered for this client", "")
		return
	}
	s, _, _ := h.sessionFromRequest(r)
	sameAccount := hinted != nil && s != nil && hinted.Subject == oidcIdentity(s, "").Subject
	if crossSite(r) && !sameAccount && s != nil {
		rd := "/"
		if strings.HasPrefix(after, "https://") || strings.HasPrefix(after, "http://") {
			rd = after
		}
		h.render(w, r, http.StatusOK, "logout", pageData{Title: "Sign out", RD: rd,
			LogoutURL: h.externalPrefix(r) + oidc.PathEndSession + "?" + r.Form.Encode()})
		return
	}
	h.endBrowserSessions(w, r, now)
	w.Header().Set("Cache-Control", "no-store")
	target := h.externalPrefix(r) + "/login?signed_out=1"
	if after != "" {
		target = oidc.WithState(after, r.Form.Get("state"))
	}
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}

// endBrowserSessions ends every session the browser presents and expires
// its cookie, as {prefix}/logout does.
func (h *PlexAuth) endBrowserSessions(w http.ResponseWriter, r *http.Request, now time.Time) {
	for _, v := range cookieheader.Values(r.Header, h.CookieName) {
		id := h.sealedSessionID(v, now)
		if id == "" {
			continue
		}
		s, err := h.sessions.Lookup(id, now, h.cacheTTL)
		if s == nil && err == nil {
			continue
		}
		h.sessions.Remove(id)
		h.verifiedCookies().DropSession(id)
		if s != nil {
			h.auditSignOut(r, s)
		}
	}
	h.clearCookie(w, r, h.CookieName, "/", h.CookieDomain)
	if h.CookieDomain != "" {
		h.clearCookie(w, r, h.CookieName, "/", "")
	}
}
