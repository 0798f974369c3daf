package plexauth

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// How the handler answers requests it does not let through.

// storeUnavailable answers when the session store cannot be read and the
// session is not in memory.
func (h *PlexAuth) storeUnavailable(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Retry-After", "5")
	if isNavigation(r) {
		h.render(w, r, http.StatusServiceUnavailable, "unavailable", pageData{Title: "Sign-in unavailable", LoginURL: h.externalPrefix(r) + "/login"})
		return nil
	}
	writeStatus(w, r, http.StatusServiceUnavailable, "session store unavailable", "")
	return nil
}

// isNavigation tells a browser navigation (which gets a redirect to the
// login page) from everything else (which gets 401).
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("Upgrade") != "" || strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func acceptsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// unauthenticated answers a request without a valid session.
func (h *PlexAuth) unauthenticated(w http.ResponseWriter, r *http.Request) error {
	base := h.externalPrefix(r)
	if isNavigation(r) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, base+"/login?rd="+url.QueryEscape(originalURI(r)), http.StatusFound)
		return nil
	}
	// A scheme of our own: browsers show no password dialog for it, and an
	// API client reads where signing in happens.
	w.Header().Set("WWW-Authenticate", `PlexSignIn login="`+base+`/login"`)
	writeStatus(w, r, http.StatusUnauthorized, "sign-in required", base+"/login")
	return nil
}

// forbidden answers a signed-in account this handler's rules refuse.
func (h *PlexAuth) forbidden(w http.ResponseWriter, r *http.Request, s *Session) error {
	if h.answerUndecided(w, r, s) {
		return nil
	}
	h.auditRequestRefused(r, s, h.judge(s).Refusal)
	if isNavigation(r) {
		h.renderDenied(w, r, s.Username, originalURI(r))
		return nil
	}
	writeStatus(w, r, http.StatusForbidden, "this Plex account is not allowed here", "")
	return nil
}

// writeStatus writes a short 401/403 body, JSON when the client accepts it.
func writeStatus(w http.ResponseWriter, r *http.Request, status int, msg, login string) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if acceptsJSON(r) {
		hdr.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := `{"error":` + strconv.Quote(msg)
		if login != "" {
			body += `,"login":` + strconv.Quote(login)
		}
		_, _ = w.Write([]byte(body + "}\n"))
		return
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }
