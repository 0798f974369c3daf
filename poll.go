package plexauth

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/account"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
)

// A browser learns how its sign-in ended in one of two ways: the same-tab
// flow comes back to {prefix}/callback and gets a page; the popup flow's
// login page asks {prefix}/poll about once a second and gets JSON. Both ask
// settlePin, so the rules, the cookies and the logs are the same for both.

// pinStatus is where a sign-in stands.
type pinStatus int

const (
	pinPending  pinStatus = iota // not approved at Plex yet
	pinApproved                  // approved by an account the rules admit; session cookie set
	pinDenied                    // approved by an account the rules refuse
	pinExpired                   // unknown to plex.tv, expired, or its token refused
	pinFailed                    // plex.tv could not be asked; err says why
	pinLimited                   // not asked: the client is over its limits; err is a *signin.Refusal
	pinUsed                      // finished already: this is a copy of its state cookie
	pinForged                    // the state cookie does not match the pin at plex.tv
)

// pinOutcome is what settlePin found.
type pinOutcome struct {
	status  pinStatus
	account string // Plex username, when approved or denied
	during  string // what was being asked of plex.tv, when failed
	err     error  // when failed
}

// settlePin asks plex.tv about the pin in this browser's state cookie and
// applies the answer to the browser's cookies: a sign-in that has ended
// (approved, denied, expired, used, forged) clears the state cookie, and an
// approved one sets the session cookie. A pending pin or a failed call
// leaves the state cookie, so the browser can ask again.
//
// Clearing the state cookie stops only this browser from finishing the pin
// again; a copy of the cookie is stopped by the claim on the pin (see
// internal/session/pinclaim.go): an approved pin yields one session,
// however many copies ask, on whichever instance.
func (h *PlexAuth) settlePin(w http.ResponseWriter, r *http.Request, st *loginState) (o pinOutcome) {
	statePath := h.externalPrefix(r) + "/"
	claim := session.PinClaimKey(h.ClientID, st.PinID)
	if h.sessions.PinSettled(claim) {
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		return pinOutcome{status: pinUsed}
	}
	// A pin known to have ended is answered here: a copy of its state
	// cookie costs plex.tv nothing, and no budget (internal/signin).
	if how, ended := h.limits.EndedAs(st.PinID, time.Now()); ended {
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		return pinOutcome{status: endedStatus(how)}
	}
	defer func() {
		countSettled(o.status)
		if how, ended := endedAnswer(o.status); ended {
			h.limits.End(st.PinID, how, time.Now())
		}
	}()
	pin, err := h.checkPin(r, st.PinID)
	switch {
	case errors.Is(err, plextv.ErrPinNotFound):
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		return pinOutcome{status: pinExpired}
	case errors.As(err, new(*signin.Refusal)):
		return pinOutcome{status: pinLimited, err: err}
	case err != nil:
		return pinOutcome{status: pinFailed, during: "checking pin", err: err}
	case st.Code == "" || !hmac.Equal([]byte(pin.Code), []byte(st.Code)):
		// start sealed the pin's code with its id. A state cookie whose
		// code is not the pin's was not made by start: it was sealed with
		// a stolen secret around a pin id guessed (they are sequential)
		// to be someone else's sign-in, whose code is never stored.
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		h.logger.Warn("refused a login state whose code is not its pin's: a state cookie forged with a copy of the secret?")
		return pinOutcome{status: pinForged}
	case pin.AuthToken == nil || *pin.AuthToken == "":
		return pinOutcome{status: pinPending}
	}

	claimed, err := h.sessions.ClaimPin(r.Context(), claim, maxStateTTL)
	switch {
	case err != nil:
		return pinOutcome{status: pinFailed, during: "claiming pin", err: &storeError{err}}
	case !claimed:
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		h.logger.Info("refused to finish a sign-in twice (a copy of its state cookie, or two tabs at once)")
		return pinOutcome{status: pinUsed}
	}
	s, err := account.Identify(r.Context(), h.plex, *pin.AuthToken)
	switch {
	case errors.Is(err, plextv.ErrTokenRejected):
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		return pinOutcome{status: pinExpired}
	case err != nil:
		h.sessions.ReleasePin(claim)
		return pinOutcome{status: pinFailed, during: "identifying account", err: err}
	}
	h.ownerReadFor(s)
	d := h.judge(s)
	if d.Refusal != "" {
		h.clearCookie(w, r, h.stateCookie, statePath, "")
		h.auditSignInRefused(r, s, d.Refusal, h.refusalFields(s)...)
		return pinOutcome{status: pinDenied, account: s.Username}
	}
	// The state cookie goes only once the session is stored: if storing
	// fails, the claim is dropped and the browser can ask again with the
	// same, approved, pin.
	if err := h.newSession(w, r, s); err != nil {
		h.sessions.ReleasePin(claim)
		return pinOutcome{status: pinFailed, during: "storing session", err: err}
	}
	h.clearCookie(w, r, h.stateCookie, statePath, "")
	h.auditSignIn(r, s, d.Tier)
	return pinOutcome{status: pinApproved, account: s.Username}
}

// endedAnswer says whether the pin of a sign-in that came to st has ended,
// and how, which says what a copy of its state cookie is answered from
// then on (endedStatus): "expired" for a pin plex.tv no longer has (or
// whose token it refused), "used" for one that finished either way. A
// forged state cookie says nothing of its pin, which may be someone else's
// sign-in in progress.
func endedAnswer(st pinStatus) (signin.Ending, bool) {
	switch st {
	case pinExpired:
		return signin.Expired, true
	case pinApproved, pinDenied, pinUsed:
		return signin.Used, true
	}
	return 0, false
}

// endedStatus is how settlePin answers a copy of the state cookie of a pin
// that ended how.
func endedStatus(how signin.Ending) pinStatus {
	if how == signin.Expired {
		return pinExpired
	}
	return pinUsed
}

// countSettled counts a sign-in that ended (see metrics.go): a pending pin
// has not, a used one was counted when it ended, and a limited check is
// counted by the limits.
func countSettled(st pinStatus) {
	switch st {
	case pinApproved:
		countSignIn(signInOK)
	case pinDenied:
		countSignIn(signInDenied)
	case pinExpired:
		countSignIn(signInExpired)
	case pinFailed, pinForged:
		countSignIn(signInError)
	}
}

// flowAnswer is the JSON body of {prefix}/poll, and of {prefix}/start when
// the login page's script asks for the popup flow.
type flowAnswer struct {
	// Status is started (start only), pending, ok, denied, expired, limited
	// or error.
	Status string `json:"status"`
	// URL is the Plex sign-in page for the popup (started).
	URL string `json:"url,omitempty"`
	// Redirect is where to go once signed in (ok).
	Redirect string `json:"redirect,omitempty"`
	// Account is the Plex username the rules refused (denied).
	Account string `json:"account,omitempty"`
	// Message says what went wrong, for people (error, limited).
	Message string `json:"message,omitempty"`
	// RetryAfter is how many seconds to wait before asking again (limited),
	// as the Retry-After header says.
	RetryAfter int `json:"retryAfter,omitempty"`
}

// servePoll tells the login page's script where this browser's sign-in
// stands. It answers only for the browser that holds the state cookie: the
// pin id never leaves that cookie, so no one can poll for someone else's
// sign-in and collect their session.
func (h *PlexAuth) servePoll(w http.ResponseWriter, r *http.Request) {
	st := h.readState(r)
	if st == nil {
		writeFlowJSON(w, http.StatusBadRequest, flowAnswer{Status: "error", Message: "This browser has no sign-in in progress."})
		return
	}
	switch o := h.settlePin(w, r, st); o.status {
	case pinPending:
		writeFlowJSON(w, http.StatusOK, flowAnswer{Status: "pending"})
	case pinApproved:
		writeFlowJSON(w, http.StatusOK, flowAnswer{Status: "ok", Redirect: st.RD})
	case pinDenied:
		writeFlowJSON(w, http.StatusForbidden, flowAnswer{Status: "denied", Account: o.account})
	case pinExpired:
		writeFlowJSON(w, http.StatusGone, flowAnswer{Status: "expired"})
	case pinLimited:
		tooManyJSON(w, asRefusal(o.err))
	case pinUsed:
		writeFlowJSON(w, http.StatusBadRequest, flowAnswer{Status: "error", Message: "This sign-in was already finished. If this browser is not signed in, start again."})
	case pinForged:
		writeFlowJSON(w, http.StatusBadRequest, flowAnswer{Status: "error", Message: "This sign-in could not be verified. Start again."})
	default:
		h.plexFailedJSON(w, o.during, o.err)
	}
}

// plexFailedJSON is plexFailed for the script: the same status and
// Retry-After, a JSON body.
func (h *PlexAuth) plexFailedJSON(w http.ResponseWriter, what string, err error) {
	status := h.plexFailure(w, what, err)
	msg := map[string]string{
		plextv.ProblemUnreachable: "This site could not connect to plex.tv.",
		plextv.ProblemTimeout:     "plex.tv did not answer in time.",
		plextv.ProblemError:       "plex.tv is having trouble; it answered with an error.",
	}[plextv.Problem(err)]
	if errors.As(err, new(*storeError)) {
		msg = "This site cannot keep sessions right now."
	}
	writeFlowJSON(w, status, flowAnswer{Status: "error", Message: msg})
}

func writeFlowJSON(w http.ResponseWriter, status int, a flowAnswer) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

// refusalFields add to a refused sign-in's audit line. Without
// owner_token they also list the servers the account reaches next to the
// configured ones: for the server's owner refused at their own site, that
// is how a wrong `server` id shows up.
func (h *PlexAuth) refusalFields(s *Session) []zap.Field {
	var f []zap.Field
	if h.owner == nil && len(h.Servers) > 0 {
		f = append(f,
			zap.Strings("servers_reached", slices.Sorted(maps.Keys(s.Servers))),
			zap.Strings("servers_configured", h.Servers))
	}
	return f
}
