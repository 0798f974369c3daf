package oidcprovider

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// serveEndSession is RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0): it ends the sessions of the browser and sends it to the
// client's post_logout_redirect_uri, which must be registered. A request
// from another site without an id_token_hint for the signed-in account
// asks the user first, as a logout link from elsewhere does.
func (p *Provider) serveEndSession(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, p.MaxForm)
	if err := r.ParseForm(); err != nil {
		p.Host.Fail(w, r, http.StatusBadRequest, "malformed request parameters")
		return
	}
	now := time.Now()
	hint, clientID, after := r.Form.Get("id_token_hint"), r.Form.Get("client_id"), r.Form.Get("post_logout_redirect_uri")
	var client *oidc.Client
	var hinted *oidc.IDClaims
	if hint != "" {
		var err error
		if hinted, err = p.keys.Get(r.Context()).IDTokenHint(hint, now); err != nil {
			p.Host.Fail(w, r, http.StatusBadRequest, "id_token_hint was not issued here")
			return
		}
		if clientID != "" && clientID != hinted.Audience {
			p.Host.Fail(w, r, http.StatusBadRequest, "client_id does not match id_token_hint")
			return
		}
		clientID = hinted.Audience
	}
	if clientID != "" {
		if client = p.reg.Lookup(clientID); client == nil {
			p.Host.Fail(w, r, http.StatusBadRequest, "unknown client_id")
			return
		}
	}
	if after != "" && (client == nil || !client.PostLogoutAllowed(after)) {
		// Never redirect to a URI that is not registered.
		p.Host.Fail(w, r, http.StatusBadRequest, "post_logout_redirect_uri is not registered for this client")
		return
	}
	a, _ := p.Host.SignedIn(r)
	sameAccount := hinted != nil && a != nil && hinted.Subject == a.Identity.Subject
	if p.Host.CrossSite(r) && !sameAccount && a != nil {
		rd := "/"
		if strings.HasPrefix(after, "https://") || strings.HasPrefix(after, "http://") {
			rd = after
		}
		p.Host.ConfirmSignOut(w, r, rd, p.Host.Prefix(r)+oidc.PathEndSession+"?"+r.Form.Encode())
		return
	}
	p.Host.EndSessions(w, r, now)
	w.Header().Set("Cache-Control", "no-store")
	target := p.Host.Prefix(r) + "/login?signed_out=1"
	if after != "" {
		target = oidc.WithState(after, r.Form.Get("state"))
	}
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}
