package plexauth

import (
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
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
	api   admin.API // the routes (internal/admin), with the audit lines of this file
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.plex_auth",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the audit logger and the routes.
func (a *AdminAPI) Provision(caddy.Context) error {
	a.audit = adminAuditLog()
	a.api = admin.API{Caches: caches, Ended: a.logEnded, AccountEnded: a.logAccountEnded}
	return nil
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

// logAccountEnded writes the audit line of an account signed out through
// the admin API. Its sessions elsewhere end there, each with a line of
// that instance's.
func (a *AdminAPI) logAccountEnded(r *http.Request, userID int64, username string, endedHere int) {
	a.audit.Info("account signed out",
		zap.Int64("plex_user_id", userID),
		zap.String("username", username),
		zap.String("client_ip", adminClientIP(r)),
		zap.String("host", r.Host),
		zap.Int("sessions_ended_here", endedHere),
		zap.String("reason", endedByAdmin))
}

// Routes returns the plex_auth routes of the admin API.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: admin.Base, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error { return a.api.Serve(w, r) }

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
