package plexauth

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

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
