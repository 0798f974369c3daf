package plexauth

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// How a request finds its session across reloads. The sessions, their
// two-level cache and the stores are internal/session's; what lives here is
// the cache's place in Caddy: one per store, in a UsagePool.

// Session is a signed-in browser's session (internal/session).
type Session = session.Session

// sessionPool holds the session caches across config reloads: a reload
// provisions the new handlers (taking a reference) before the old ones are
// cleaned up (dropping theirs), so the cache, and everyone's sign-in,
// survives. When the last plex_auth handler goes away, Destruct stops the
// sweeper so nothing leaks.
var sessionPool = caddy.NewUsagePool()

// pooledSessions is what the pool holds for one store: the session cache
// and the re-check backoff its sessions share (revalidate.go), both
// surviving reloads.
type pooledSessions struct {
	cache    *session.Cache
	rechecks recheck.Backoff
}

// Destruct implements caddy.Destructor: the last handler using the store
// is gone.
func (p *pooledSessions) Destruct() error { return p.cache.Destruct() }

// newSessionCache is a session cache as the handlers use it: a failed
// store operation counts in the metrics, a session ended elsewhere through
// the admin API gets its audit line, and an account's sign-out marker lasts
// at least as long as the default session_ttl.
func newSessionCache(store session.Store, log *zap.Logger) *session.Cache {
	return session.NewCache(store, log, session.Config{
		MarkerTTL:   defaultSessionTTL,
		StoreFailed: metrics.storeErrors.Inc,
		EndedBySignout: func(s *Session) {
			adminAuditLog().Info("session ended", zap.Int64("plex_user_id", s.UserID), zap.String("username", s.Username), zap.String("reason", endedByAdmin))
		},
	})
}

// sessionPoolKey names the cache all plex_auth handlers using the same
// store share: "plex_auth.sessions|" plus the store. Sharing is safe because
// every handler checks a session against its own rules on every request
// (see PlexAuth.admit).
const sessionPoolKey = "plex_auth.sessions"

var _ caddy.Destructor = (*pooledSessions)(nil)
