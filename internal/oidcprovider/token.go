package oidcprovider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
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

// tokens counts token endpoint answers by client (a registered client id,
// or "unknown", so a stranger cannot grow the label set) and result.
var tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "plex_auth", Name: "oidc_tokens_total",
	Help: "OpenID Connect token endpoint answers by client and result: ok, invalid_client, invalid_grant, replayed (a code used twice; its tokens are revoked), invalid_request, unsupported_grant_type, unavailable.",
}, []string{"client", "result"})

// RegisterMetrics adds caddy_plex_auth_oidc_tokens_total to reg (nil: no
// metrics). The counter is one for the process, so that its counts survive
// a config reload; registering it again in a registry that holds it
// already is no error.
func RegisterMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(tokens); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) || are.ExistingCollector != tokens {
			return err
		}
	}
	return nil
}

// serveToken is the token endpoint: a code, its client's credentials, the
// redirect URI and the PKCE verifier in; an ID token and an access token
// out, or the error RFC 6749 §5.2 names.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	clientLabel := "unknown"
	fail := func(e *oidc.Error, result, reason string) {
		tokens.WithLabelValues(clientLabel, result).Inc()
		p.auditRefused(r, nil, clientLabel, reason)
		if e.Status == http.StatusUnauthorized && e.Basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.Realm+`"`)
		}
		writeJSON(w, e.Status, e.JSON())
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		fail(&oidc.Error{Code: "invalid_request", Status: 400, Description: "the body must be application/x-www-form-urlencoded"}, tokenBadRequest, "malformed")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, p.MaxForm)
	if err := r.ParseForm(); err != nil {
		fail(&oidc.Error{Code: "invalid_request", Status: 400, Description: "malformed body"}, tokenBadRequest, "malformed")
		return
	}
	tr, e := oidc.ParseTokenRequest(r.Header.Get("Authorization"), r.PostForm)
	if e != nil {
		fail(e, e.Code, e.Code)
		return
	}
	c, e := p.reg.Authenticate(tr)
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
	ctx, cancel := context.WithTimeout(r.Context(), p.StoreTimeout)
	defer cancel()
	badGrant := func(desc, reason string) {
		fail(&oidc.Error{Code: "invalid_grant", Status: 400, Description: desc}, tokenBadGrant, reason)
	}
	unavailable := func() {
		w.Header().Set("Retry-After", "5")
		fail(&oidc.Error{Code: "temporarily_unavailable", Status: 503, Description: "the session store is not answering"}, tokenUnavailable, "store_unavailable")
	}
	g, err := oidc.Redeem(ctx, p.Codes, tr.Code, now, TokenTTL+KeyMargin)
	switch {
	case errors.Is(err, oidc.ErrReplayedCode):
		fail(&oidc.Error{Code: "invalid_grant", Status: 400, Description: "the code was used already; the tokens issued from it are revoked"}, tokenReplayed, "code_replayed")
		return
	case errors.Is(err, oidc.ErrUnknownCode):
		badGrant("the code is unknown or expired", "code_unknown")
		return
	case err != nil:
		p.Host.StoreFailed(err)
		unavailable()
		return
	}
	if e, reason := g.Check(c.ID, tr); e != nil {
		fail(e, e.Code, reason)
		return
	}
	// The session the code came from must still be there: a sign-out in
	// the 60 s between code and token refuses the code.
	raw, err := p.Sealer.Open(sessionSeal, g.Session, now, nil)
	if err != nil {
		badGrant("the sign-in behind the code ended", "session_ended")
		return
	}
	alive, err := p.Host.Alive(string(raw), now)
	if err != nil {
		unavailable()
		return
	}
	if !alive {
		badGrant("the sign-in behind the code ended", "session_ended")
		return
	}
	at, idt, err := p.keys.Get(r.Context()).IssueTokens(g, c.ID, tr.Code, now, TokenTTL)
	if err != nil {
		p.Logger.Error("signing OpenID Connect tokens", zap.Error(err))
		fail(&oidc.Error{Code: "temporarily_unavailable", Status: 503, Description: "tokens could not be signed"}, tokenUnavailable, "signing_failed")
		return
	}
	body := oidc.TokenResponse(at, idt, g.Scope, TokenTTL)
	tokens.WithLabelValues(c.ID, tokenOK).Inc()
	writeJSON(w, http.StatusOK, body)
}

// serveUserinfo answers the claims of a valid access token, by GET or POST
// (Core §5.3): the same as the ID token's, whatever the scopes.
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	refuse := func(code string) {
		v := `Bearer realm="` + p.Realm + `"`
		if code != "" {
			v += `, error="` + code + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
		writeJSON(w, http.StatusUnauthorized, (&oidc.Error{Code: code}).JSON())
	}
	var form url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, p.MaxForm)
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
	claims, err := p.keys.Get(r.Context()).VerifyAccessToken(tok, now)
	if err != nil {
		refuse("invalid_token")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.StoreTimeout)
	revoked, err := oidc.Revoked(ctx, p.Codes, claims.ID)
	cancel()
	switch {
	case err != nil:
		p.Host.StoreFailed(err)
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
