package plexauth

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/appsignin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI puts the plex_auth sessions on Caddy's admin endpoint
// (`admin.api.plex_auth`; Caddy loads every admin.api module by itself, so
// there is nothing to configure), for `caddy plex-auth sessions` and
// `caddy plex-auth signout`, or curl:
//
//   - `GET /plex_auth/sessions` lists the sessions this instance holds in
//     memory, as a JSON array of objects with `handle` (an opaque name for
//     the session, stable while this process holds it; neither the cookie
//     nor the session id), `account_id`, `username`, `title`, `tiers` (the
//     distinct tiers the account has on its servers), `created`, `expires`
//     and `checked` (the last check with plex.tv).
//   - `DELETE /plex_auth/sessions/<handle>` ends that session, here at once
//     and on every instance sharing the session store within a second.
//   - `DELETE /plex_auth/users/<account id>` ends every session of that
//     Plex account created until now, on every instance sharing the store:
//     here at once, elsewhere within a second. A later sign-in works.
//
// Both DELETEs answer `{"ended": n}`, n being the sessions this instance
// held, and 503 when the store could not be told (sessions on other
// instances then last until they end otherwise). Every session ended gets
// an info line "session ended" with reason "admin_api" under the logger
// `http.handlers.plex_auth.audit`, and an account signed out one more,
// "account signed out".
type AdminAPI struct {
	audit *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.plex_auth",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the audit logger.
func (a *AdminAPI) Provision(caddy.Context) error {
	a.audit = adminAuditLog()
	return nil
}

// handleKey keys session handles; it lives as long as the process, so a
// handle is stable for as long as this process holds the session.
var handleKey = sync.OnceValue(func() []byte { return randomBytes(32) })

// sessionHandle is the opaque stand-in for a session id on the admin API:
// it names the session there without being usable as, or revealing, the id.
func sessionHandle(id string) string {
	mac := hmac.New(sha256.New, handleKey())
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil)[:12])
}

// adminAuditLog is the audit trail's logger, which the handlers' audit
// lines use too: "http.handlers.plex_auth.audit".
func adminAuditLog() *zap.Logger {
	return caddy.Log().Named("http.handlers.plex_auth.audit")
}

// endedByAdmin is the reason on the audit line of a session ended through
// the admin API.
const endedByAdmin = "admin_api"

// logEnded writes the audit line of a session ended through the admin
// API: the account, and the address the admin request came from.
func (a *AdminAPI) logEnded(r *http.Request, s *Session) {
	auditEnded(a.audit, s, endedByAdmin, origin{clientIP: adminClientIP(r), host: r.Host})
	appsignin.EndSessions(s, defaultTimeout, caddy.Log().Named("http.handlers.plex_auth")) // app_sign_in
}

// Routes returns the plex_auth routes of the admin API.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminBase, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

const adminBase = "/plex_auth/"

// adminSession is one session as the admin API shows it.
type adminSession struct {
	Handle    string    `json:"handle"`
	AccountID int64     `json:"account_id"`
	Username  string    `json:"username"`
	Title     string    `json:"title"`
	Tiers     []string  `json:"tiers"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Checked   time.Time `json:"checked"`
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, adminBase), "/")
	switch {
	case len(parts) == 1 && parts[0] == "sessions":
		if r.Method != http.MethodGet {
			return adminMethodNotAllowed(w, r, http.MethodGet)
		}
		return adminJSON(w, listSessions())
	case len(parts) == 2 && parts[0] == "sessions" && parts[1] != "":
		if r.Method != http.MethodDelete {
			return adminMethodNotAllowed(w, r, http.MethodDelete)
		}
		return a.endSession(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "users" && parts[1] != "":
		if r.Method != http.MethodDelete {
			return adminMethodNotAllowed(w, r, http.MethodDelete)
		}
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || id <= 0 {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("%q is not a Plex account id (a positive number)", parts[1])}
		}
		return a.endAccount(w, r, id)
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("resource not found: %v", r.URL.Path)}
}

func adminMethodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %v", r.Method)}
}

func adminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// caches returns every session cache this process holds: one per store
// the plex_auth handlers use.
func caches() []*session.Cache {
	var out []*session.Cache
	sessionPool.Range(func(_, v any) bool {
		if p, ok := v.(*pooledSessions); ok {
			out = append(out, p.cache)
		}
		return true
	})
	return out
}

// listSessions returns the sessions in memory, oldest first.
func listSessions() []adminSession {
	out := []adminSession{}
	for _, sc := range caches() {
		for _, h := range sc.Held() {
			s := h.Session
			out = append(out, adminSession{
				Handle:    sessionHandle(h.ID),
				AccountID: s.UserID,
				Username:  s.Username,
				Title:     s.Title,
				Tiers:     sessionTiers(s),
				Created:   s.Created,
				Expires:   s.Expires,
				Checked:   s.Checked,
			})
		}
	}
	slices.SortFunc(out, func(a, b adminSession) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Handle, b.Handle))
	})
	return out
}

// sessionTiers returns the distinct tiers the account has on its servers,
// highest first.
func sessionTiers(s *Session) []string {
	tiers := []string{}
	for _, t := range s.Servers {
		if !slices.Contains(tiers, t) {
			tiers = append(tiers, t)
		}
	}
	slices.SortFunc(tiers, func(a, b string) int { return cmp.Or(access.TierRank(b)-access.TierRank(a), strings.Compare(a, b)) })
	return tiers
}

func (a *AdminAPI) endSession(w http.ResponseWriter, r *http.Request, handle string) error {
	for _, sc := range caches() {
		for _, h := range sc.Held() {
			if sessionHandle(h.ID) != handle {
				continue
			}
			err := sc.EndSession(r.Context(), h.ID)
			a.logEnded(r, h.Session)
			if err != nil {
				return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable,
					Err: fmt.Errorf("session ended here, but the session store could not be told, so other instances may keep it for up to cache_ttl: %v", err)}
			}
			return adminJSON(w, map[string]int{"ended": 1})
		}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no session with that handle in this instance's memory")}
}

func (a *AdminAPI) endAccount(w http.ResponseWriter, r *http.Request, userID int64) error {
	at := time.Now()
	var ended []*Session
	var errs []error
	for _, sc := range caches() {
		e, err := sc.EndAccount(r.Context(), userID, at)
		ended = append(ended, e...)
		errs = append(errs, err)
	}
	username := ""
	for _, s := range ended {
		username = s.Username
		a.logEnded(r, s)
	}
	// One line for the account too: its sessions elsewhere end there,
	// each with a line of that instance's.
	a.audit.Info("account signed out",
		zap.Int64("plex_user_id", userID),
		zap.String("username", username),
		zap.String("client_ip", adminClientIP(r)),
		zap.String("host", r.Host),
		zap.Int("sessions_ended_here", len(ended)),
		zap.String("reason", endedByAdmin))
	if err := errors.Join(errs...); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%d sessions ended here, but the session store could not be told, so other instances may keep theirs: %v", len(ended), err)}
	}
	return adminJSON(w, map[string]int{"ended": len(ended)})
}

// adminClientIP is the address the admin request came from.
func adminClientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Interface guards
var (
	_ caddy.Module      = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
