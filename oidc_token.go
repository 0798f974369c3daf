package plexauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

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
	if e, reason := g.Check(c.ID, tr); e != nil {
		fail(e, e.Code, reason)
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
	at, idt, err := h.oidc.keys.Get(r.Context()).IssueTokens(g, c.ID, tr.Code, now, oidcTokenTTL)
	if err != nil {
		h.logger.Error("signing OpenID Connect tokens", zap.Error(err))
		fail(&oidc.Error{Code: "temporarily_unavailable", Status: 503, Description: "tokens could not be signed"}, tokenUnavailable, "signing_failed")
		return
	}
	body := oidc.TokenResponse(at, idt, g.Scope, oidcTokenTTL)
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
	claims, err := h.oidc.keys.Get(r.Context()).VerifyAccessToken(tok, now)
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
