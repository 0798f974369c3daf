package plexauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/account"
	"github.com/caddy-plexauth/caddy-plexauth/internal/appsignin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
)

// Re-checking sessions with plex.tv, so that access ends when the owner
// removes a friend or the account's token is revoked. The request that finds
// its session due goes through at once on the cached identity; one
// goroutine per session asks plex.tv in the background, paced by
// internal/recheck.

// maxPlexBackoff caps the wait between re-check attempts while plex.tv
// fails, and between the owner's list's reads.
const maxPlexBackoff = recheck.MaxBackoff

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
	if !h.rechecks.AdmitProbe(now) {
		s.EndCheck()
		return
	}
	from := originOf(r)
	go func() {
		defer h.rechecks.Finished()
		h.revalidateSession(id, s, from)
	}()
}

func (h *PlexAuth) revalidateSession(id string, s *Session, from origin) {
	defer s.EndCheck()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Duration(h.Timeout))
	defer cancel()
	fresh, err := account.Reidentify(ctx, h.plex, s, h.owner != nil)
	now := time.Now()
	switch {
	case errors.Is(err, plextv.ErrTokenRejected):
		// plex.tv answered, about this token only: other sessions'
		// re-checks go on (and a probe during an outage ends it).
		h.rechecks.Succeeded()
		h.sessions.Remove(id)
		h.verifiedCookies().DropSession(id)
		countRecheck(recheckEnded)
		h.auditEnded(s, endedTokenRejected, from)
		appsignin.EndSessions(s, time.Duration(h.Timeout), h.logger) // app_sign_in
		h.logger.Debug("what plex.tv answered the re-check that ended a session", zap.Error(err))
		return
	case err != nil:
		countRecheck(recheckError)
		if n := h.rechecks.Failed(now, h.revalidate, plextv.RetryAfter(err)); n == 1 {
			h.logger.Warn("plex.tv unavailable; signed-in users keep their sessions, re-checks back off",
				zap.Error(err))
		}
		return
	}
	countRecheck(recheckOK)
	if n := h.rechecks.Succeeded(); n > 0 {
		h.logger.Info("plex.tv reachable again", zap.Int("failed_checks", n))
	}
	// The session is shared by every plex_auth block, so no block's rules
	// are applied here: each block's admit judges the refreshed account on
	// each request, and one that lost access everywhere is refused
	// everywhere.
	fresh.Succeed(s, now)
	h.sessions.Update(id, s, fresh)
}
