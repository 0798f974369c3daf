package plexauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// Re-checking sessions with plex.tv, so that access ends when the owner
// removes a friend or the account's token is revoked. The request that finds
// its session due goes through at once on the cached identity; one
// goroutine per session asks plex.tv in the background.

// maxPlexBackoff caps the wait between re-check attempts while plex.tv fails.
const maxPlexBackoff = time.Hour

// maxRechecks bounds the re-checks running at once: sessions falling due
// together (after a restart, say) must not fire hundreds of calls at
// plex.tv at once. A due session that finds no room is re-checked on one of
// its next requests.
const maxRechecks = 4

// plexBackoff is shared by all sessions of a cache: while plex.tv fails,
// at most one re-check at a time probes it, and the next probe waits an
// exponentially growing time (or plex.tv's Retry-After, when longer).
// Signed-in users keep working meanwhile.
type plexBackoff struct {
	mu      sync.Mutex
	fails   int
	retryAt time.Time
	probing bool
	running int // re-checks started and not finished
}

// admitProbe reports whether a re-check may call plex.tv now; when it may,
// the re-check counts as running until finished is called.
func (b *plexBackoff) admitProbe(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running >= maxRechecks {
		return false
	}
	if b.fails > 0 {
		if b.probing || now.Before(b.retryAt) {
			return false
		}
		b.probing = true
	}
	b.running++
	return true
}

// finished ends a re-check admitProbe let through.
func (b *plexBackoff) finished() {
	b.mu.Lock()
	b.running--
	b.mu.Unlock()
}

// failed records a failure and returns how many in a row there were.
func (b *plexBackoff) failed(now time.Time, base, retryAfter time.Duration) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	b.probing = false
	wait := base
	for i := 1; i < b.fails && wait < maxPlexBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, maxPlexBackoff)
	// Jitter keeps instances sharing an outage from probing in step.
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
	if retryAfter > wait {
		wait = retryAfter
	}
	b.retryAt = now.Add(wait)
	return b.fails
}

// succeeded clears the backoff and returns how many failures it ends.
func (b *plexBackoff) succeeded() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.fails
	b.fails, b.probing, b.retryAt = 0, false, time.Time{}
	return n
}

// maybeRevalidate starts a background re-check of s when one is due. It
// never blocks the request. r, the request that found it due, is named in
// the audit line if the re-check ends the session.
func (h *PlexAuth) maybeRevalidate(r *http.Request, id string, s *Session, now time.Time) {
	if h.revalidate <= 0 || now.Before(s.Checked.Add(h.revalidate)) {
		return
	}
	if !s.BeginCheck() {
		return // singleflight: one re-check per session at a time
	}
	if !h.rechecks.admitProbe(now) {
		s.EndCheck()
		return
	}
	from := originOf(r)
	go func() {
		defer h.rechecks.finished()
		h.revalidateSession(id, s, from)
	}()
}

func (h *PlexAuth) revalidateSession(id string, s *Session, from origin) {
	defer s.EndCheck()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Duration(h.Timeout))
	defer cancel()
	fresh, err := h.recheckIdentity(ctx, s)
	now := time.Now()
	switch {
	case errors.Is(err, plextv.ErrTokenRejected):
		// plex.tv answered, about this token only: other sessions'
		// re-checks go on (and a probe during an outage ends it).
		h.rechecks.succeeded()
		h.sessions.Remove(id)
		h.verifiedCookies().DropSession(id)
		countRecheck(recheckEnded)
		h.auditEnded(s, endedTokenRejected, from)
		endAppSessions(s, time.Duration(h.Timeout), h.logger) // app_sign_in (appsession.go)
		h.logger.Debug("what plex.tv answered the re-check that ended a session", zap.Error(err))
		return
	case err != nil:
		var retryAfter time.Duration
		var un *plextv.Unavailable
		if errors.As(err, &un) {
			retryAfter = un.RetryAfter
		}
		countRecheck(recheckError)
		if n := h.rechecks.failed(now, h.revalidate, retryAfter); n == 1 {
			h.logger.Warn("plex.tv unavailable; signed-in users keep their sessions, re-checks back off",
				zap.Error(err))
		}
		return
	}
	countRecheck(recheckOK)
	if n := h.rechecks.succeeded(); n > 0 {
		h.logger.Info("plex.tv reachable again", zap.Int("failed_checks", n))
	}
	// The session is shared by every plex_auth block, so no block's rules
	// are applied here: each block's admit judges the refreshed account on
	// each request, and one that lost access everywhere is refused
	// everywhere.
	fresh.Created, fresh.Expires, fresh.Checked = s.Created, s.Expires, now
	fresh.SignoutMark = s.SignoutMark
	fresh.Apps = s.Apps
	fresh.Prepare()
	h.sessions.Update(id, s, fresh)
}
