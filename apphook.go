package plexauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/appsignin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
)

// What app_sign_in does on a request (appsignin.go has the option).

// How long a session is not signed into the application again after the
// application refused it, or could not be reached; and how long a 429
// without Retry-After pauses sign-ins to the application for everyone.
const (
	appRefusedBackoff = 5 * time.Minute
	appErrorBackoff   = time.Minute
	appPauseDefault   = 5 * time.Minute
	appBackoffMax     = 4096 // sessions remembered as backing off, before the past ones are dropped
)

// Results of an application sign-in
// (caddy_plex_auth_app_sign_ins_total{app,result}).
const (
	appSignInOK      = "ok"      // the application signed the user in
	appSignInRefused = "refused" // it answered without signing the user in
	appSignInError   = "error"   // it could not be asked
)

var appSignIns = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "plex_auth", Name: "app_sign_ins_total",
	Help: "Sign-ins of users into the application behind a block with app_sign_in, by application kind (overseerr, tautulli) and result: ok, refused (the application answered without signing the user in), error (it could not be asked).",
}, []string{"app", "result"})

// appState is one block's app_sign_in at run time.
type appState struct {
	h            *PlexAuth
	app          *appsignin.App
	kind, url    string
	logoutMethod string
	logoutPath   string
	rootPath     string // the application's HTTP root, for expiring its cookies

	mu      sync.Mutex
	flights map[string]*appFlight // by session id: the sign-in under way
	backoff map[string]time.Time  // by session id: no sign-in before
	// pausedUntil (UnixNano): the application answered 429; nobody is
	// signed in before then.
	pausedUntil atomic.Int64
}

// appFlight is one sign-in call, which the concurrent requests of a
// session wait on together.
type appFlight struct {
	done chan struct{}
	e    AppSession
	ok   bool
}

func newAppState(h *PlexAuth, app *appsignin.App) *appState {
	a := &appState{h: h, app: app, kind: string(app.Kind()), url: app.URL(),
		flights: map[string]*appFlight{}, backoff: map[string]time.Time{}}
	a.logoutMethod, a.logoutPath = app.LogoutPath()
	if u, err := url.Parse(app.URL()); err == nil && u.Path != "" {
		a.rootPath = u.Path
	}
	for _, r := range []string{appSignInOK, appSignInRefused, appSignInError} {
		appSignIns.WithLabelValues(a.kind, r)
	}
	return a
}

// serve runs on every admitted request of the block, before the request
// goes on. id is the session's id ("" when an earlier plex_auth handler
// admitted it). The signed-in request that presents the cookie this
// session made costs one cookie comparison.
func (a *appState) serve(w http.ResponseWriter, r *http.Request, s *Session, id string) {
	for i := range s.Apps {
		e := &s.Apps[i]
		if e.URL != a.url || e.Kind != a.kind {
			continue
		}
		if cookieheader.Find(r.Header, e.Name) != e.Value {
			if !e.Expires.IsZero() && !time.Now().Before(e.Expires) {
				break // over: sign in again
			}
			// Another value (an old one, another user's, a script's):
			// the one this session made replaces it.
			a.present(w, r, e)
		}
		if r.URL.Path == a.logoutPath && r.Method == a.logoutMethod {
			// The application's own sign-out: it ends this application
			// session, so the next request makes another.
			a.forget(s, id)
		}
		return
	}
	a.signIn(w, r, s, id)
}

// signIn signs the session's user into the application, one call for all
// the session's concurrent requests, and puts the cookie in the request.
// When no sign-in is to be made, or it fails, the request goes on without
// any session cookie of the application's.
func (a *appState) signIn(w http.ResponseWriter, r *http.Request, s *Session, id string) {
	if id == "" || s.Token == "" {
		a.strip(w, r)
		return
	}
	now := time.Now()
	if now.UnixNano() < a.pausedUntil.Load() {
		a.strip(w, r)
		return
	}
	a.mu.Lock()
	if until, ok := a.backoff[id]; ok {
		if now.Before(until) {
			a.mu.Unlock()
			a.strip(w, r)
			return
		}
		delete(a.backoff, id)
	}
	f, running := a.flights[id]
	if !running {
		f = &appFlight{done: make(chan struct{})}
		a.flights[id] = f
	}
	a.mu.Unlock()
	if !running {
		f.e, f.ok = a.call(r, s, id)
		a.mu.Lock()
		delete(a.flights, id)
		a.mu.Unlock()
		close(f.done)
	} else {
		select {
		case <-f.done:
		case <-r.Context().Done():
			a.strip(w, r)
			return
		}
	}
	if !f.ok {
		a.strip(w, r)
		return
	}
	a.present(w, r, &f.e)
}

// call makes the sign-in call and records its result: in the session
// when it worked, as a back-off when it did not.
func (a *appState) call(r *http.Request, s *Session, id string) (AppSession, bool) {
	// Not the request's context: the other requests of the session wait
	// on this call too, and one browser giving up must not fail them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.h.Timeout))
	c, err := a.app.SignIn(ctx, s.Token)
	cancel()
	var ref *appsignin.Refused
	switch {
	case err == nil:
		e := AppSession{Kind: a.kind, URL: a.url, Name: c.Name, Value: c.Value, Path: c.Path, Expires: c.Expires}
		a.remember(s, id, e)
		a.record(r, s, appSignInOK)
		return e, true
	case errors.As(err, &ref):
		a.backOff(id, appRefusedBackoff)
		if ref.Status == http.StatusTooManyRequests {
			wait := ref.RetryAfter
			if wait <= 0 {
				wait = appPauseDefault
			}
			a.pausedUntil.Store(time.Now().Add(wait).UnixNano())
			a.h.logger.Warn("the application asks for no more sign-ins for a while; app_sign_in pauses for everyone",
				zap.String("app", a.kind), zap.String("url", a.url), zap.Duration("retry_after", wait))
		}
		a.h.logger.Info("the application refused to sign the user in; it shows its own page, and is not asked again for this session for a few minutes",
			zap.String("app", a.kind), zap.Int64("plex_user_id", s.UserID), zap.String("username", s.Username),
			zap.Int("status", ref.Status), zap.String("answer", ref.Message))
		a.record(r, s, appSignInRefused)
	default:
		a.backOff(id, appErrorBackoff)
		a.h.logger.Warn("the application could not be asked to sign the user in",
			zap.String("app", a.kind), zap.String("url", a.url), zap.Int64("plex_user_id", s.UserID), zap.Error(err))
		a.record(r, s, appSignInError)
	}
	return AppSession{}, false
}

func (a *appState) record(r *http.Request, s *Session, result string) {
	appSignIns.WithLabelValues(a.kind, result).Inc()
	a.h.audit.Info("signed in to app", auditFields(s, originOf(r), zap.String("app", a.kind), zap.String("result", result))...)
}

func (a *appState) backOff(id string, d time.Duration) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.backoff) >= appBackoffMax {
		for k, until := range a.backoff {
			if !now.Before(until) {
				delete(a.backoff, k)
			}
		}
	}
	if len(a.backoff) < appBackoffMax {
		a.backoff[id] = now.Add(d)
	}
}
