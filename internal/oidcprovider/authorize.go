package oidcprovider

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// serveAuthorize is the authorization endpoint: with no session it sends
// the browser to the login page, which comes back here; with one, the
// block's rules (Host.Judge) and then the client's decide, and the browser goes to the client's redirect
// URI with a code or access_denied.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, p.MaxForm)
	if err := r.ParseForm(); err != nil {
		p.Host.Fail(w, r, http.StatusBadRequest, "malformed request parameters")
		return
	}
	q := r.Form
	iss := p.Host.Issuer(r)
	w.Header().Set("Cache-Control", "no-store")
	ar, ae := oidc.ParseAuthRequest(p.reg, q)
	if ae != nil {
		p.auditRefused(r, nil, q.Get("client_id"), ae.Code)
		if !ae.Redirect {
			// Never redirect to a URI that is not registered: that would
			// make this an open redirector (RFC 6749 §4.1.2.1).
			p.Host.Fail(w, r, http.StatusForbidden, "OpenID Connect: "+ae.Description)
			return
		}
		http.Redirect(w, r, oidc.ErrorRedirectFor(q, ae, iss), http.StatusFound)
		return
	}
	a, err := p.Host.SignedIn(r)
	switch {
	case err != nil:
		http.Redirect(w, r, ar.ErrorRedirect("temporarily_unavailable", "the session store is not answering", iss), http.StatusFound)
		return
	case a == nil && ar.Prompt == "none":
		http.Redirect(w, r, ar.ErrorRedirect("login_required", "", iss), http.StatusFound)
		return
	case a == nil:
		// Back to this very request after sign-in, as a GET.
		back := p.Host.Prefix(r) + oidc.PathAuthorize + "?" + q.Encode()
		http.Redirect(w, r, p.Host.Prefix(r)+"/login?rd="+url.QueryEscape(back), http.StatusFound)
		return
	}
	d := p.Host.Judge(a)
	if d.Refusal == "" {
		d.Refusal = p.rules[ar.Client.ID].refusal(&a.Facts, d.Tier)
	}
	if d.Refusal != "" {
		p.auditRefused(r, a, ar.Client.ID, string(d.Refusal))
		code := "access_denied"
		if d.Refusal.Unavailable() {
			code = "temporarily_unavailable"
		}
		http.Redirect(w, r, ar.ErrorRedirect(code, "", iss), http.StatusFound)
		return
	}
	id := a.Identity
	if d.Tier != "" {
		id.Groups = []string{d.Tier}
	}
	now := time.Now()
	g := &oidc.Grant{
		Issuer: iss, ClientID: ar.Client.ID, RedirectURI: ar.RedirectURI, CodeChallenge: ar.CodeChallenge,
		Nonce: ar.Nonce, Scope: ar.Scope, AuthTime: a.AuthTime.Unix(), Identity: id,
		Session: p.Sealer.Seal(sessionSeal, []byte(a.Session), now.Add(oidc.CodeTTL)),
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.StoreTimeout)
	code, err := oidc.Issue(ctx, p.Codes, g, now)
	cancel()
	if err != nil {
		p.Host.StoreFailed(err)
		http.Redirect(w, r, ar.ErrorRedirect("temporarily_unavailable", "the session store is not answering", iss), http.StatusFound)
		return
	}
	p.Host.Audit(r, a, "oidc code issued", zap.String("client", ar.Client.ID))
	http.Redirect(w, r, ar.CodeRedirect(code, iss), http.StatusFound)
}

// auditRefused records a request refused; a is nil when it was refused
// before anyone signed in, or at the token endpoint, where a refused code
// says nothing trustworthy about an account.
func (p *Provider) auditRefused(r *http.Request, a *Account, client, reason string) {
	if len(client) > 64 {
		client = client[:64] + "…" // as sent by anyone: bounded
	}
	p.Host.Audit(r, a, "oidc refused", zap.String("client", client), zap.String("reason", reason))
}
