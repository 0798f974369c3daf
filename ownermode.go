package plexauth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/ownerlist"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// How a block with owner_token differs from one without: where it starts its
// owner's list, how its sign-ins wait for that list, what it answers while
// it cannot decide, and how often a session's own re-check asks only
// for the account (account.Reidentify).

// tokenRecheckEvery is how often a session's own re-check runs in owner
// mode: it only asks whether the session's token still works.
const tokenRecheckEvery = 24 * time.Hour

// provisionOwner starts the owner's list of a block with owner_token.
func (h *PlexAuth) provisionOwner(ctx caddy.Context) error {
	if h.OwnerToken == "" || len(h.Servers) == 0 {
		return nil // Validate refuses owner_token without server
	}
	// Never echoed: the value is, or holds, the token.
	token := strings.TrimSpace(caddy.NewReplacer().ReplaceAll(h.OwnerToken, ""))
	if token == "" {
		return errors.New("owner_token is empty (an unset {env.…} placeholder expands to nothing)")
	}
	if !strings.Contains(h.OwnerToken, "{") {
		h.logger.Warn("owner_token is written in the configuration itself, so Caddy keeps it in its saved config (autosave.json) and shows it on its admin API; give it as a placeholder such as {env.PLEX_TOKEN}")
	}
	// Access comes from the owner's list, read for everyone once per
	// revalidate; a session's own re-check only asks whether its token
	// still works.
	h.revalidate = max(h.revalidate, tokenRecheckEvery)
	o, err := ownerlist.New(ctx, ownerlist.Config{
		Plex: h.plex, Token: token, Servers: h.Servers, Every: time.Duration(h.Revalidate),
		Storage: ctx.Storage(), Log: h.logger, StoreTimeout: session.StoreTimeout, MaxBackoff: maxPlexBackoff,
	})
	if err != nil {
		return err
	}
	h.owner = o
	return nil
}

// ownerAllowsSignIn answers, for the sign-in endpoints of a block with
// owner_token, whether a sign-in can go on (ownerlist.List.CanSignIn);
// when not, the browser gets 503 and its sign-in in progress, if any, is
// kept.
func (h *PlexAuth) ownerAllowsSignIn(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	switch endpoint {
	case "login", "start", "callback", "poll":
	default:
		return true
	}
	ok, setup := h.owner.CanSignIn()
	if ok {
		return true
	}
	if endpoint == "poll" || acceptsJSON(r) {
		h.undecidedHeaders(w, setup)
		writeFlowJSON(w, http.StatusServiceUnavailable, flowAnswer{Status: "error", Message: undecidedMessage(setup)})
		return false
	}
	h.renderUndecided(w, r, setup)
	return false
}

// ownerReadFor reads the owner's list again when the account signing in
// is not on it (ownerlist.List.ReadFor).
func (h *PlexAuth) ownerReadFor(s *Session) { h.owner.ReadFor(s.UserID) }

// answerUndecided answers a signed-in request that a block with owner_token
// cannot decide (see access.Refusal.Unavailable) with 503, and reports whether it
// did.
func (h *PlexAuth) answerUndecided(w http.ResponseWriter, r *http.Request, s *Session) bool {
	if h.owner == nil {
		return false
	}
	d := h.decide(s)
	if !d.Refusal.Unavailable() {
		return false
	}
	setup := d.Refusal == access.RefusedSetup
	if isNavigation(r) {
		h.renderUndecided(w, r, setup)
		return true
	}
	h.undecidedHeaders(w, setup)
	writeStatus(w, r, http.StatusServiceUnavailable, strings.TrimSuffix(undecidedMessage(setup), "."), "")
	return true
}

func undecidedMessage(setup bool) string {
	if setup {
		return "This site's Plex set-up needs attention."
	}
	return "Plex could not be reached."
}

func (h *PlexAuth) undecidedHeaders(w http.ResponseWriter, setup bool) {
	if !setup {
		w.Header().Set("Retry-After", formatInt(int64(ownerlist.OnDemandEvery/time.Second)))
	}
}

func (h *PlexAuth) renderUndecided(w http.ResponseWriter, r *http.Request, setup bool) {
	h.undecidedHeaders(w, setup)
	d := pageData{Title: "Plex could not be reached", LoginURL: h.externalPrefix(r) + "/login"}
	if setup {
		d.Title, d.SetupNeedsAttention = "Sign-in unavailable", true
	}
	h.render(w, r, http.StatusServiceUnavailable, "unavailable", d)
}
