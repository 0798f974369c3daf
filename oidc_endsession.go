package plexauth

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

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
		if hinted, err = h.oidc.keys.Get(r.Context()).IDTokenHint(hint, now); err != nil {
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
