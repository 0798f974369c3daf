package plexauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/returnurl"
	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
)

// maxFormBody bounds what the endpoints read of a POST body.
const maxFormBody = 64 << 10

// maxStateTTL caps the login state cookie: a pin the user has not approved
// in this time is abandoned.
const maxStateTTL = 30 * time.Minute

// loginState travels in the sealed state cookie between start and
// callback. The pin id stays here: in a URL it would let an attacker sign a
// victim in as the attacker.
type loginState struct {
	PinID int64  `json:"p"`
	Code  string `json:"c"`
	RD    string `json:"r"`
}

// endpoints are the module's own endpoints under the prefix, with the
// methods each accepts.
var endpoints = map[string]struct {
	methods []string
	serve   func(*PlexAuth, http.ResponseWriter, *http.Request)
}{
	"login":    {[]string{http.MethodGet, http.MethodHead}, (*PlexAuth).serveLogin},
	"start":    {[]string{http.MethodGet, http.MethodPost}, (*PlexAuth).serveStart},
	"callback": {[]string{http.MethodGet, http.MethodHead}, (*PlexAuth).serveCallback},
	"logout":   {[]string{http.MethodGet, http.MethodPost}, (*PlexAuth).serveLogout},
	"poll":     {[]string{http.MethodGet}, (*PlexAuth).servePoll},
	"login.js": {[]string{http.MethodGet, http.MethodHead}, (*PlexAuth).serveScript},
	"logo":     {[]string{http.MethodGet, http.MethodHead}, (*PlexAuth).serveLogo},
	"whoami":   {[]string{http.MethodGet, http.MethodHead}, (*PlexAuth).serveWhoami},
}

// serveEndpoint serves the module's own endpoints under the prefix.
func (h *PlexAuth) serveEndpoint(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, h.Prefix), "/")
	if h.oidc != nil && h.oidc.Serve(w, r, name) {
		return nil
	}
	ep, ok := endpoints[name]
	if !ok {
		writeStatus(w, r, http.StatusNotFound, "not found", "")
		return nil
	}
	if allowMethods(w, r, ep.methods...) && (h.owner == nil || h.ownerAllowsSignIn(w, r, name)) {
		ep.serve(h, w, r)
	}
	return nil
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeStatus(w, r, http.StatusMethodNotAllowed, "method not allowed", "")
	return false
}

// returnTo reads and validates the rd parameter (query or form).
// ok is false when the request's parameters could not be parsed at all.
func (h *PlexAuth) returnTo(w http.ResponseWriter, r *http.Request) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		writeStatus(w, r, http.StatusBadRequest, "malformed request parameters", "")
		return "", false
	}
	return returnurl.Safe(r.Form.Get("rd"), r.Host, h.RedirectDomains), true
}

func (h *PlexAuth) serveLogin(w http.ResponseWriter, r *http.Request) {
	rd, ok := h.returnTo(w, r)
	if !ok {
		return
	}
	if s, _, _ := h.sessionFromRequest(r); s != nil {
		if _, admitted := h.admit(s); admitted {
			http.Redirect(w, r, rd, http.StatusFound)
			return
		}
	}
	base := h.externalPrefix(r)
	h.render(w, r, http.StatusOK, "login", pageData{
		RD:        rd,
		SignedOut: r.Form.Get("signed_out") == "1",
		StartURL:  base + "/start",
		LoginURL:  base + "/login",
	})
}

// serveStart creates a pin at plex.tv, remembers it in the sealed state
// cookie, and sends the browser to Plex's sign-in page. With popup=1 (the
// login page's script) it answers JSON with the Plex URL for the popup
// instead, and the page learns the outcome from {prefix}/poll.
//
// Only a POST that no other site sent creates a pin: an <img> or a form on
// any page could otherwise make its visitors' browsers create pins here by
// the hundred. A GET goes to the login page, whose button posts.
func (h *PlexAuth) serveStart(w http.ResponseWriter, r *http.Request) {
	rd, ok := h.returnTo(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, h.externalPrefix(r)+"/login?rd="+url.QueryEscape(rd), http.StatusSeeOther)
		return
	}
	if crossSite(r) {
		writeStatus(w, r, http.StatusForbidden, "sign-in starts from this site's login page", "")
		return
	}
	popup := r.Form.Get("popup") == "1"
	// The browser's earlier sign-in, if any, ends with this one: its state
	// cookie is about to be replaced.
	var replaced signin.PinRef
	if old := h.readState(r); old != nil {
		replaced = signin.PinRef{ID: old.PinID, Code: old.Code}
	}
	pin, ttl, err := h.createPin(r, replaced)
	if le := asRefusal(err); le != nil {
		if popup {
			tooManyJSON(w, le)
			return
		}
		h.tooMany(w, r, le, pageData{LoginURL: h.externalPrefix(r) + "/login?rd=" + url.QueryEscape(rd)})
		return
	}
	if err != nil {
		countSignIn(signInError)
		if popup {
			h.plexFailedJSON(w, "creating pin", err)
			return
		}
		h.plexFailed(w, r, "creating pin", err, rd)
		return
	}
	payload, _ := json.Marshal(loginState{PinID: pin.ID, Code: pin.Code, RD: rd})
	http.SetCookie(w, &http.Cookie{
		Name:     h.stateCookie,
		Value:    h.stateSealer.Seal(h.stateCookie, payload, time.Now().Add(ttl)),
		Path:     h.externalPrefix(r) + "/",
		MaxAge:   int(ttl / time.Second),
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteLaxMode,
	})
	if popup {
		// No forwardUrl: Plex closes its window when done.
		writeFlowJSON(w, http.StatusOK, flowAnswer{Status: "started", URL: plextv.AppURL(h.PlexAppURL, h.ClientID, pin.Code, h.Product, "")})
		return
	}
	callback := requestScheme(r) + "://" + r.Host + h.externalPrefix(r) + "/callback"
	w.Header().Set("Cache-Control", "no-store")
	// This Location header is recorded by Caddy's access log (it lists
	// response headers). Whoever reads that log while a sign-in is pending
	// could approve the pin with their own Plex account, but cannot collect
	// anyone's session: the pin id stays in the sealed state cookie, and
	// only the browser holding it finishes the sign-in.
	http.Redirect(w, r, plextv.AppURL(h.PlexAppURL, h.ClientID, pin.Code, h.Product, callback), http.StatusSeeOther)
}

// readState opens the state cookie; nil when it is missing, forged or expired.
func (h *PlexAuth) readState(r *http.Request) *loginState {
	v := cookieheader.Find(r.Header, h.stateCookie)
	if v == "" {
		return nil
	}
	raw, err := h.stateSealer.Open(h.stateCookie, v, time.Now(), nil)
	if err != nil {
		return nil
	}
	var st loginState
	if json.Unmarshal(raw, &st) != nil || st.PinID <= 0 {
		return nil
	}
	st.RD = returnurl.Safe(st.RD, r.Host, h.RedirectDomains)
	return &st
}

// serveCallback is where Plex sends the browser back. It asks plex.tv
// whether the pin in this browser's state cookie was approved, and if so
// who approved it.
func (h *PlexAuth) serveCallback(w http.ResponseWriter, r *http.Request) {
	base := h.externalPrefix(r)
	st := h.readState(r)
	if st == nil {
		h.render(w, r, http.StatusBadRequest, "badstate", pageData{Title: "Sign-in could not continue", LoginURL: base + "/login"})
		return
	}
	loginURL := base + "/login?rd=" + url.QueryEscape(st.RD)
	switch o := h.settlePin(w, r, st); o.status {
	case pinPending:
		h.render(w, r, http.StatusOK, "waiting", pageData{
			Title: "Waiting for Plex", Refresh: 2,
			CallbackURL: base + "/callback", LoginURL: loginURL,
		})
	case pinExpired:
		h.render(w, r, http.StatusGone, "expired", pageData{Title: "Sign-in expired", LoginURL: loginURL})
	case pinUsed:
		h.render(w, r, http.StatusBadRequest, "used", pageData{Title: "Sign-in already finished", LoginURL: loginURL})
	case pinForged:
		h.render(w, r, http.StatusBadRequest, "badstate", pageData{Title: "Sign-in could not continue", LoginURL: base + "/login"})
	case pinFailed:
		h.plexFailed(w, r, o.during, o.err, st.RD)
	case pinLimited:
		// The page reloads itself when the wait is over, as the waiting
		// page does.
		le := asRefusal(o.err)
		h.tooMany(w, r, le, pageData{Refresh: le.RetryAfter(), CallbackURL: base + "/callback", LoginURL: loginURL})
	case pinDenied:
		h.renderDenied(w, r, o.account, st.RD)
	case pinApproved:
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, st.RD, http.StatusFound)
	}
}

// newSession stores s under a fresh 256-bit id and sets the session cookie.
// It fails, setting no cookie, when the session store refuses the session.
func (h *PlexAuth) newSession(w http.ResponseWriter, r *http.Request, s *Session) error {
	now := time.Now()
	ttl := time.Duration(h.SessionTTL)
	s.Created, s.Checked, s.Expires = now, now, now.Add(ttl)
	rawID := randomBytes(sessionIDLen)
	id := string(rawID)
	if err := h.sessions.Put(r.Context(), id, s); err != nil {
		return &storeError{err}
	}
	h.warnCookieDomain(r.Host)
	http.SetCookie(w, &http.Cookie{
		Name:     h.CookieName,
		Value:    h.sessionSealer.Seal(h.CookieName, rawID, s.Expires),
		Path:     "/",
		Domain:   h.CookieDomain,
		MaxAge:   int(ttl / time.Second),
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// warnCookieDomain says once per handler, at the first sign-in on a host
// the cookie_domain does not cover, that browsers will drop the session
// cookie: nothing else tells the operator why everyone there keeps being
// sent back to the login page.
func (h *PlexAuth) warnCookieDomain(host string) {
	if h.CookieDomain == "" || hostUnderCookieDomain(host, h.CookieDomain) ||
		!atomic.CompareAndSwapUint32(&h.cookieDomainWarned, 0, 1) {
		return
	}
	h.logger.Warn("cookie_domain does not cover this host: browsers drop the session cookie here, and sign-in starts over every time",
		zap.String("host", host), zap.String("cookie_domain", h.CookieDomain))
}

// storeError is the session store failing to keep a new session.
type storeError struct{ err error }

func (e *storeError) Error() string { return "session store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// serveLogout ends the session on the server, so an old copy of the cookie
// stops working, expires the cookie and goes back to the login page. A
// request another site sent gets a page with a button instead: a link or a
// form elsewhere must not sign people out.
func (h *PlexAuth) serveLogout(w http.ResponseWriter, r *http.Request) {
	rd, ok := h.returnTo(w, r)
	if !ok {
		return
	}
	if crossSite(r) {
		h.render(w, r, http.StatusOK, "logout", pageData{Title: "Sign out", RD: rd, LogoutURL: h.externalPrefix(r) + "/logout"})
		return
	}
	h.endBrowserSessions(w, r, time.Now())
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, h.externalPrefix(r)+"/login?signed_out=1&rd="+url.QueryEscape(rd), status)
}

// endBrowserSessions ends every session the browser presents, with the
// application sessions app_sign_in made for each, and expires the cookie
// in both scopes: one set before cookie_domain changed would otherwise
// outlive the sign-out. This block's session_ttl does not decide what
// ends: a sibling site with a longer one still admits the session. Both
// sign-outs end here: {prefix}/logout and the OpenID Connect end_session.
func (h *PlexAuth) endBrowserSessions(w http.ResponseWriter, r *http.Request, now time.Time) {
	for _, v := range cookieheader.Values(r.Header, h.CookieName) {
		id := h.sealedSessionID(v, now)
		if id == "" {
			continue
		}
		s, err := h.sessions.Lookup(id, now, h.cacheTTL)
		if s == nil && err == nil {
			continue // already over
		}
		// Also when the store could not be asked: the deletion is retried.
		h.sessions.Remove(id)
		h.verifiedCookies().DropSession(id)
		if s != nil {
			h.auditSignOut(r, s)
			h.endApps(w, r, s) // app_sign_in (appsignin.go)
		}
	}
	h.clearCookie(w, r, h.CookieName, "/", h.CookieDomain)
	if h.CookieDomain != "" {
		h.clearCookie(w, r, h.CookieName, "/", "")
	}
}

// sealedSessionID is the session id a genuine, unexpired session cookie
// value carries, or "": a forged or garbled value names nothing.
func (h *PlexAuth) sealedSessionID(value string, now time.Time) string {
	if value == "" {
		return ""
	}
	if e, ok := h.verifiedCookies().Get(h.CookieName, value, now); ok {
		return e.ID
	}
	raw, err := h.sessionSealer.Open(h.CookieName, value, now, nil)
	if err != nil || len(raw) != sessionIDLen {
		return ""
	}
	return string(raw)
}

func (h *PlexAuth) clearCookie(w http.ResponseWriter, r *http.Request, name, path, domain string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: path, Domain: domain, MaxAge: -1,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// plexFailed answers when plex.tv could not be used: 503 (with
// Retry-After) when it asked us to slow down or is down for maintenance,
// 502 otherwise.
func (h *PlexAuth) plexFailed(w http.ResponseWriter, r *http.Request, what string, err error, rd string) {
	status := h.plexFailure(w, what, err)
	// "Try again" keeps where the user was going.
	loginURL := h.externalPrefix(r) + "/login?rd=" + url.QueryEscape(rd)
	if errors.As(err, new(*storeError)) {
		h.render(w, r, status, "unavailable", pageData{Title: "Sign-in unavailable", StoreDown: true, LoginURL: loginURL})
		return
	}
	h.render(w, r, status, "unavailable", pageData{Title: "Plex could not be reached", PlexProblem: plextv.Problem(err), LoginURL: loginURL})
}

// plexFailure logs a failed plex.tv call and returns the status to answer
// with, setting Retry-After when plex.tv gave one.
func (h *PlexAuth) plexFailure(w http.ResponseWriter, what string, err error) int {
	if errors.As(err, new(*storeError)) {
		// The store logs its own outage, once; no log line per sign-in.
		w.Header().Set("Retry-After", "5")
		return http.StatusServiceUnavailable
	}
	status := http.StatusBadGateway
	var un *plextv.Unavailable
	if errors.As(err, &un) && (un.Status == http.StatusTooManyRequests || un.Status == http.StatusServiceUnavailable) {
		status = http.StatusServiceUnavailable
		if un.RetryAfter > 0 {
			w.Header().Set("Retry-After", formatInt(int64((un.RetryAfter+time.Second-1)/time.Second)))
		}
	}
	if c := h.logger.Check(zapcore.WarnLevel, "plex.tv call failed"); c != nil {
		c.Write(zap.String("during", what), zap.String("problem", plextv.Problem(err)), zap.Error(err))
	}
	return status
}
