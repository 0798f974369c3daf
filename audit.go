package plexauth

import (
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
)

// The audit trail: one info line for every sign-in, refusal, sign-out and
// session ended, under a logger name of its own,
// http.handlers.plex_auth.audit, so that Caddy's `log` global option can
// send it to a file of its own (`include http.handlers.plex_auth.audit`)
// or leave it out of the main log (`exclude`). Each line names the account
// (plex_user_id, username), the client (client_ip) and the site (host);
// never a token, a cookie value or a session id.
//
// The messages are stable, for log queries:
//
//	signed in          a session was created (tier)
//	sign-in refused    an account finished the Plex sign-in and the rules refused it (reason)
//	request refused    a signed-in account was refused by this block's rules (reason, path)
//	signed out         a session ended at {prefix}/logout
//	session ended      a session ended otherwise (reason: token_rejected at a re-check)

// Reasons a session ended, besides a sign-out.
const (
	// endedTokenRejected: a re-check found that plex.tv no longer accepts
	// the session's token (revoked, expired, or the account deleted).
	endedTokenRejected = "token_rejected"
)

// newAuditLogger is the audit trail's logger, named under the module's.
func newAuditLogger(moduleLogger *zap.Logger) *zap.Logger {
	return moduleLogger.Named("audit")
}

// origin is the request an event came from.
type origin struct {
	clientIP string // Caddy's client_ip, which honours trusted_proxies
	host     string
}

func originOf(r *http.Request) origin {
	if r == nil {
		return origin{}
	}
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	return origin{clientIP: ip, host: r.Host}
}

func auditFields(s *Session, from origin, extra ...zap.Field) []zap.Field {
	return append([]zap.Field{
		zap.Int64("plex_user_id", s.UserID),
		zap.String("username", s.Username),
		zap.String("client_ip", from.clientIP),
		zap.String("host", from.host),
	}, extra...)
}

// auditSignIn records a new session; tier is "" when the block names no
// server (allow_users, allow_any_plex_user).
func (h *PlexAuth) auditSignIn(r *http.Request, s *Session, tier string) {
	fields := auditFields(s, originOf(r))
	if tier != "" {
		fields = append(fields, zap.String("tier", tier))
	}
	h.audit.Info("signed in", fields...)
}

func (h *PlexAuth) auditSignInRefused(r *http.Request, s *Session, why access.Refusal, more ...zap.Field) {
	h.audit.Info("sign-in refused", auditFields(s, originOf(r), append([]zap.Field{zap.String("reason", string(why))}, more...)...)...)
}

// auditRequestRefused records a signed-in account refused by this block.
// The path is logged without its query, which may carry an application's
// own secrets.
func (h *PlexAuth) auditRequestRefused(r *http.Request, s *Session, why access.Refusal) {
	path := r.URL.Path
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		path = or.URL.Path
	}
	h.audit.Info("request refused", auditFields(s, originOf(r), zap.String("reason", string(why)), zap.String("path", path))...)
}

func (h *PlexAuth) auditSignOut(r *http.Request, s *Session) {
	h.audit.Info("signed out", auditFields(s, originOf(r))...)
}

// auditEnded records a session ended other than by its own sign-out; from
// is the request that caused it, if any.
func (h *PlexAuth) auditEnded(s *Session, reason string, from origin) {
	auditEnded(h.audit, s, reason, from)
}

// auditEnded is the same for code that is not a plex_auth handler, such as
// an admin API module ending sessions: newAuditLogger(ctx.Logger(PlexAuth{}))
// from its caddy.Context is the same logger, routed by the same `log`
// options.
func auditEnded(log *zap.Logger, s *Session, reason string, from origin) {
	log.Info("session ended", auditFields(s, from, zap.String("reason", reason))...)
}
