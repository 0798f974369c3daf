// Package admin serves the plex_auth routes of Caddy's admin API: it lists
// the sessions this process holds in memory and ends one of them, or every
// session of an account, in the session caches it is given. It names a
// session by an opaque handle, never by its id. The root registers the
// module (admin.api.plex_auth), hands it the caches and writes the audit
// lines; this package decides nothing about access and writes no log.
//
// It lives apart from internal/session because what it shows is a view for
// operators (a handle keyed by this process, the tiers ranked as
// internal/access ranks them), and a session holds facts without ranking
// them.
package admin

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// Base is the path under which the routes are served: Caddy's admin
// endpoint hands every path starting with it to API.Serve.
const Base = "/plex_auth/"

// Session is one session as the admin API lists it, and as
// `caddy plex-auth sessions --json` prints it: the JSON shape is the
// API's promise, so the client decodes this same type.
type Session struct {
	// Handle names the session on the admin API (see Handle).
	Handle    string `json:"handle"`
	AccountID int64  `json:"account_id"`
	Username  string `json:"username"`
	Title     string `json:"title"`
	// Tiers are the distinct tiers the account has on its servers,
	// highest first; never null.
	Tiers   []string  `json:"tiers"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Checked is the last check with plex.tv.
	Checked time.Time `json:"checked"`
}

// API answers the admin routes. Its fields are set once; Serve only reads
// them.
type API struct {
	// Caches returns every session cache this process holds.
	Caches func() []*session.Cache
	// Ended is called for every session ended through the API, whether
	// or not the store could be told, from the admin request r.
	Ended func(r *http.Request, s *session.Session)
	// AccountEnded is called once for every account signed out through
	// the API, with the username of a session of it ended here ("" when
	// this instance held none) and how many ended here.
	AccountEnded func(r *http.Request, userID int64, username string, endedHere int)
}

// Serve answers one admin request under Base:
//
//   - GET sessions: the sessions in memory, a JSON array of Session,
//     oldest first;
//   - DELETE sessions/<handle>: ends that session, {"ended": 1};
//   - DELETE users/<account id>: ends every session of the account created
//     until now, {"ended": n}, n being the sessions this instance held.
//
// Its errors are caddy.APIError values: 400 for an account id that is not
// a positive number, 404 for an unknown path or handle, 405 (with Allow)
// for another method, and 503 when the session store could not be told.
func (a *API) Serve(w http.ResponseWriter, r *http.Request) error {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, Base), "/")
	switch {
	case len(parts) == 1 && parts[0] == "sessions":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, r, http.MethodGet)
		}
		return writeJSON(w, list(a.Caches()))
	case len(parts) == 2 && parts[0] == "sessions" && parts[1] != "":
		if r.Method != http.MethodDelete {
			return methodNotAllowed(w, r, http.MethodDelete)
		}
		return a.endSession(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "users" && parts[1] != "":
		if r.Method != http.MethodDelete {
			return methodNotAllowed(w, r, http.MethodDelete)
		}
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || id <= 0 {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("%q is not a Plex account id (a positive number)", parts[1])}
		}
		return a.endAccount(w, r, id)
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("resource not found: %v", r.URL.Path)}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %v", r.Method)}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// handleKey keys session handles; it lives as long as the process, so a
// handle is stable for as long as this process holds the session.
var handleKey = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand.Read crashes the program instead (Go 1.24)
	return b
})

// Handle is the opaque stand-in for a session id on the admin API: 24 hex
// characters, the same for one id while this process runs, which name the
// session there without being usable as, or revealing, the id (an HMAC
// under a key of this process).
func Handle(id string) string {
	mac := hmac.New(sha256.New, handleKey())
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil)[:12])
}

// list returns the sessions in memory in caches, oldest first.
func list(caches []*session.Cache) []Session {
	out := []Session{}
	for _, sc := range caches {
		for _, h := range sc.Held() {
			s := h.Session
			out = append(out, Session{
				Handle:    Handle(h.ID),
				AccountID: s.UserID,
				Username:  s.Username,
				Title:     s.Title,
				Tiers:     tiers(s),
				Created:   s.Created,
				Expires:   s.Expires,
				Checked:   s.Checked,
			})
		}
	}
	slices.SortFunc(out, func(a, b Session) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Handle, b.Handle))
	})
	return out
}

// tiers returns the distinct tiers the account has on its servers,
// highest first.
func tiers(s *session.Session) []string {
	tiers := []string{}
	for _, t := range s.Servers {
		if !slices.Contains(tiers, t) {
			tiers = append(tiers, t)
		}
	}
	slices.SortFunc(tiers, func(a, b string) int { return cmp.Or(access.TierRank(b)-access.TierRank(a), strings.Compare(a, b)) })
	return tiers
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request, handle string) error {
	for _, sc := range a.Caches() {
		for _, h := range sc.Held() {
			if Handle(h.ID) != handle {
				continue
			}
			err := sc.EndSession(r.Context(), h.ID)
			a.Ended(r, h.Session)
			if err != nil {
				return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable,
					Err: fmt.Errorf("session ended here, but the session store could not be told, so other instances may keep it for up to cache_ttl: %v", err)}
			}
			return writeJSON(w, map[string]int{"ended": 1})
		}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no session with that handle in this instance's memory")}
}

func (a *API) endAccount(w http.ResponseWriter, r *http.Request, userID int64) error {
	at := time.Now()
	var ended []*session.Session
	var errs []error
	for _, sc := range a.Caches() {
		e, err := sc.EndAccount(r.Context(), userID, at)
		ended = append(ended, e...)
		errs = append(errs, err)
	}
	username := ""
	for _, s := range ended {
		username = s.Username
		a.Ended(r, s)
	}
	a.AccountEnded(r, userID, username, len(ended))
	if err := errors.Join(errs...); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%d sessions ended here, but the session store could not be told, so other instances may keep theirs: %v", len(ended), err)}
	}
	return writeJSON(w, map[string]int{"ended": len(ended)})
}
