package plexauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Re-checking sessions with plex.tv, so that access ends when the owner
// removes a friend or the account's token is revoked. The request that finds
// its session due goes through at once on the cached identity; one
// goroutine per session asks plex.tv in the background.

// maxPlexBackoff caps the wait between re-check attempts while plex.tv fails.
const maxPlexBackoff = time.Hour

// plexBackoff is shared by all sessions of a cache: while plex.tv fails,
// at most one re-check at a time probes it, and the next probe waits an
// exponentially growing time (or plex.tv's Retry-After, when longer).
// Signed-in users keep working meanwhile.
type plexBackoff struct {
	mu      sync.Mutex
	fails   int
	retryAt time.Time
	probing bool
}

// admitProbe reports whether a re-check may call plex.tv now.
func (b *plexBackoff) admitProbe(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails == 0 {
		return true
	}
	if b.probing || now.Before(b.retryAt) {
		return false
	}
	b.probing = true
	return true
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
// never blocks the request.
func (h *PlexAuth) maybeRevalidate(id string, s *Session, now time.Time) {
	if h.revalidate <= 0 || s.Ended || now.Before(s.Checked.Add(h.revalidate)) {
		return
	}
	if !s.checking.CompareAndSwap(false, true) {
		return // singleflight: one re-check per session at a time
	}
	if !h.sessions.plex.admitProbe(now) {
		s.checking.Store(false)
		return
	}
	go h.revalidateSession(id, s)
}

func (h *PlexAuth) revalidateSession(id string, s *Session) {
	defer s.checking.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Duration(h.Timeout))
	defer cancel()
	fresh, err := h.recheckIdentity(ctx, s)
	now := time.Now()
	switch {
	case errors.Is(err, errTokenRejected):
		h.sessions.plex.succeeded()
		h.logger.Info("plex token no longer valid; session ended",
			zap.Int64("plex_user_id", s.UserID), zap.String("username", s.Username))
		h.sessions.remove(id)
		return
	case err != nil:
		var retryAfter time.Duration
		var un *plexUnavailable
		if errors.As(err, &un) {
			retryAfter = un.RetryAfter
		}
		if n := h.sessions.plex.failed(now, h.revalidate, retryAfter); n == 1 {
			h.logger.Warn("plex.tv unavailable; signed-in users keep their sessions, re-checks back off",
				zap.Error(err))
		}
		return
	}
	if n := h.sessions.plex.succeeded(); n > 0 {
		h.logger.Info("plex.tv reachable again", zap.Int("failed_checks", n))
	}
	fresh.Created, fresh.Expires, fresh.Checked = s.Created, s.Expires, now
	fresh.prepare()
	// With owner_token, each request is decided from the owner's list instead.
	if _, ok := h.admit(fresh); !ok && h.owner == nil {
		fresh.Ended = true
		h.logger.Info("plex account lost access; session ended",
			zap.Int64("plex_user_id", fresh.UserID), zap.String("username", fresh.Username))
	}
	h.sessions.update(id, s, fresh)
}
