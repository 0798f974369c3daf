package plexauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
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

// remember keeps e in the session, in memory and in the store. A session
// replaced meanwhile (a re-check) gets it too; one that ended does not.
func (a *appState) remember(s *Session, id string, e AppSession) {
	sc := a.h.sessions
	cur := s
	for range 3 {
		fresh := sessionWithApps(cur, withApp(cur.Apps, e))
		sc.update(id, cur, fresh)
		if sc.holds(id, fresh) {
			return
		}
		var err error
		if cur, err = sc.lookup(id, time.Now(), a.h.cacheTTL); cur == nil || err != nil {
			return
		}
	}
}

// forget drops this application's session from the plex_auth session.
func (a *appState) forget(s *Session, id string) {
	if id == "" {
		return
	}
	var kept []AppSession
	for _, e := range s.Apps {
		if e.URL != a.url || e.Kind != a.kind {
			kept = append(kept, e)
		}
	}
	a.h.sessions.update(id, s, sessionWithApps(s, kept))
}

// withApp is apps with e in place of the entry for e's application.
func withApp(apps []AppSession, e AppSession) []AppSession {
	out := make([]AppSession, 0, len(apps)+1)
	for _, o := range apps {
		if o.URL != e.URL || o.Kind != e.Kind {
			out = append(out, o)
		}
	}
	return append(out, e)
}

// sessionWithApps is a copy of s holding apps. A session in memory is
// never changed in place (requests read it without a lock): a change is a
// new object that replaces it (sessionCache.update). Every stored field is
// copied (TestSessionWithAppsCopiesEveryStoredField).
func sessionWithApps(s *Session, apps []AppSession) *Session {
	n := &Session{
		UserID: s.UserID, UUID: s.UUID, Username: s.Username, Email: s.Email, Title: s.Title,
		Servers: s.Servers, Token: s.Token, Created: s.Created, Expires: s.Expires, Checked: s.Checked,
		SignoutMark: s.SignoutMark, Apps: apps,
	}
	n.prepare()
	return n
}

// present puts e's cookie in the request, in place of any value of that
// name, and sets it in the browser.
func (a *appState) present(w http.ResponseWriter, r *http.Request, e *AppSession) {
	stripCookies(r.Header, func(name string) bool { return name == e.Name })
	pair := e.Name + "=" + e.Value
	if lines := r.Header["Cookie"]; len(lines) > 0 {
		nl := append([]string(nil), lines...)
		nl[len(nl)-1] += "; " + pair
		r.Header["Cookie"] = nl
	} else {
		r.Header["Cookie"] = []string{pair}
	}
	c := &http.Cookie{Name: e.Name, Value: e.Value, Path: e.Path, HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode}
	if c.Path == "" {
		c.Path = "/"
	}
	if !e.Expires.IsZero() {
		c.MaxAge = max(int(time.Until(e.Expires)/time.Second), 1)
	}
	if v := c.String(); v != "" {
		w.Header().Add("Set-Cookie", v)
	}
}

// strip removes the application's session cookies from the request and
// expires them in the browser: the application sees the user signed in as
// no one rather than as someone plex_auth did not sign in.
func (a *appState) strip(w http.ResponseWriter, r *http.Request) {
	for _, name := range stripCookies(r.Header, a.app.IsCookie) {
		a.h.clearCookie(w, r, name, "/", "")
		if a.rootPath != "" && a.rootPath != "/" {
			a.h.clearCookie(w, r, name, a.rootPath, "")
		}
	}
}

// stripCookies removes from the Cookie header every cookie whose name
// drop accepts, and returns the names removed (once each).
func stripCookies(h http.Header, drop func(string) bool) []string {
	var names []string
	lines := h["Cookie"]
	if len(lines) == 0 {
		return nil
	}
	var kept []string
	for _, line := range lines {
		var parts []string
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if drop(name) {
				if !contains(names, name) {
					names = append(names, name)
				}
				continue
			}
			parts = append(parts, part)
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if names == nil {
		return nil
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
	} else {
		h["Cookie"] = kept
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// endAppSessions ends the application sessions app_sign_in made for s
// (its logout, a re-check that ended it, the admin API), each with the
// application's own sign-out, in the background, bounded by timeout: best
// effort, as the plex_auth session is over whatever the application says.
func endAppSessions(s *Session, timeout time.Duration, log *zap.Logger) {
	for _, e := range s.Apps {
		app, err := appsignin.New(e.Kind, e.URL, "", timeout)
		if err != nil {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := app.SignOut(ctx, appsignin.Cookie{Name: e.Name, Value: e.Value}); err != nil && log != nil {
				log.Info("the application's sign-out failed; its session ends when it expires",
					zap.String("app", e.Kind), zap.Int64("plex_user_id", s.UserID), zap.Error(err))
			}
		}()
	}
}

// endApps is endAppSessions for a sign-out at this block's logout, whose
// response also expires the application's cookie when this block signs
// into it.
func (h *PlexAuth) endApps(w http.ResponseWriter, r *http.Request, s *Session) {
	endAppSessions(s, time.Duration(h.Timeout), h.logger)
	if h.app == nil {
		return
	}
	for _, e := range s.Apps {
		if e.Kind == h.app.kind && e.URL == h.app.url {
			path := e.Path
			if path == "" {
				path = "/"
			}
			h.clearCookie(w, r, e.Name, path, "")
		}
	}
}
