package appsignin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// What app_sign_in does on a request: the application session a plex_auth
// session holds is presented, or made (one call for all the concurrent
// requests of a session), or, when none may be made, every session cookie
// of the application's is taken out of the request.

// How long a session is not signed into the application again after the
// application refused it, or could not be reached; and how long a 429
// without Retry-After pauses sign-ins to the application for everyone.
const (
	refusedBackoff = 5 * time.Minute
	errorBackoff   = time.Minute
	pauseDefault   = 5 * time.Minute
	backoffMax     = 4096 // sessions remembered as backing off, before the past ones are dropped
)

// The results of a sign-in call, as Config.Record receives them.
const (
	ResultOK      = "ok"      // the application signed the user in
	ResultRefused = "refused" // it answered without signing the user in
	ResultError   = "error"   // it could not be asked
)

// Results are every result a sign-in call can have.
var Results = [...]string{ResultOK, ResultRefused, ResultError}

// Config is what a Block takes from the plex_auth block it serves.
type Config struct {
	// Sessions is the block's session cache: a sign-in is remembered in
	// the session there (and in its store), and the application's own
	// sign-out forgets it.
	Sessions *session.Cache
	// CacheTTL is the block's cache_ttl, with which a session replaced
	// while the call ran is looked up again (session.Cache.Lookup).
	CacheTTL time.Duration
	// Timeout bounds each sign-in call.
	Timeout time.Duration
	// Logger gets a line for each refusal, each call that failed and each
	// pause after a 429; never a token or a cookie value.
	Logger *zap.Logger
	// Secure reports whether the browser reached the site over https: the
	// cookies the Block sets or expires are Secure then.
	Secure func(*http.Request) bool
	// Record is called once after each sign-in call with its result
	// (ResultOK, ResultRefused or ResultError), for the caller's metrics
	// and audit.
	Record func(r *http.Request, s *session.Session, result string)
}

// Block is one plex_auth block's app_sign_in at run time. Its methods are
// safe for concurrent use.
type Block struct {
	cfg          Config
	app          *App
	kind, url    string
	logoutMethod string
	logoutPath   string
	rootPath     string // the application's HTTP root, for expiring its cookies

	mu      sync.Mutex
	flights map[string]*flight   // by session id: the sign-in under way
	backoff map[string]time.Time // by session id: no sign-in before
	// pausedUntil (UnixNano): the application answered 429; nobody is
	// signed in before then.
	pausedUntil atomic.Int64
}

// flight is one sign-in call, which the concurrent requests of a session
// wait on together.
type flight struct {
	done chan struct{}
	e    session.AppSession
	ok   bool
}

// NewBlock returns the run-time state of a block signing its users into
// app. The application sessions it keeps are named by app's kind and URL.
func NewBlock(app *App, cfg Config) *Block {
	b := &Block{cfg: cfg, app: app, kind: string(app.Kind()), url: app.URL(),
		flights: map[string]*flight{}, backoff: map[string]time.Time{}}
	b.logoutMethod, b.logoutPath = app.LogoutPath()
	if u, err := url.Parse(app.URL()); err == nil && u.Path != "" {
		b.rootPath = u.Path
	}
	return b
}

// Serve runs on every admitted request of the block, before the request
// goes on: afterwards the request carries the application session made
// for s, or no session cookie of the application's at all: also when an
// earlier plex_auth handler on the request admitted s (a block nested in
// a site-wide one), as s carries its id (Session.ID). The signed-in
// request that presents the cookie this session made costs one cookie
// comparison.
func (b *Block) Serve(w http.ResponseWriter, r *http.Request, s *session.Session) {
	id := s.ID()
	for i := range s.Apps {
		e := &s.Apps[i]
		if e.URL != b.url || e.Kind != b.kind {
			continue
		}
		if cookieheader.Find(r.Header, e.Name) != e.Value {
			if !e.Expires.IsZero() && !time.Now().Before(e.Expires) {
				break // over: sign in again
			}
			// Another value (an old one, another user's, a script's):
			// the one this session made replaces it.
			b.present(w, r, e)
		}
		if r.URL.Path == b.logoutPath && r.Method == b.logoutMethod {
			// The application's own sign-out: it ends this application
			// session, so the next request makes another.
			b.forget(s, id)
		}
		return
	}
	b.signIn(w, r, s, id)
}

// signIn signs the session's user into the application, one call for all
// the session's concurrent requests, and puts the cookie in the request.
// When no sign-in is to be made, or it fails, the request goes on without
// any session cookie of the application's.
func (b *Block) signIn(w http.ResponseWriter, r *http.Request, s *session.Session, id string) {
	if id == "" || s.Token == "" {
		b.strip(w, r)
		return
	}
	now := time.Now()
	if now.UnixNano() < b.pausedUntil.Load() {
		b.strip(w, r)
		return
	}
	b.mu.Lock()
	if until, ok := b.backoff[id]; ok {
		if now.Before(until) {
			b.mu.Unlock()
			b.strip(w, r)
			return
		}
		delete(b.backoff, id)
	}
	f, running := b.flights[id]
	if !running {
		f = &flight{done: make(chan struct{})}
		b.flights[id] = f
	}
	b.mu.Unlock()
	if !running {
		f.e, f.ok = b.call(r, s, id)
		b.mu.Lock()
		delete(b.flights, id)
		b.mu.Unlock()
		close(f.done)
	} else {
		select {
		case <-f.done:
		case <-r.Context().Done():
			b.strip(w, r)
			return
		}
	}
	if !f.ok {
		b.strip(w, r)
		return
	}
	b.present(w, r, &f.e)
}

// call makes the sign-in call and records its result: in the session
// when it worked, as a back-off when it did not.
func (b *Block) call(r *http.Request, s *session.Session, id string) (session.AppSession, bool) {
	// Not the request's context: the other requests of the session wait
	// on this call too, and one browser giving up must not fail them.
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	c, err := b.app.SignIn(ctx, s.Token)
	cancel()
	var ref *Refused
	switch {
	case err == nil:
		e := session.AppSession{Kind: b.kind, URL: b.url, Name: c.Name, Value: c.Value, Path: c.Path, Expires: c.Expires}
		b.remember(s, id, e)
		b.cfg.Record(r, s, ResultOK)
		return e, true
	case errors.As(err, &ref):
		b.backOff(id, refusedBackoff)
		if ref.Status == http.StatusTooManyRequests {
			wait := ref.RetryAfter
			if wait <= 0 {
				wait = pauseDefault
			}
			b.pausedUntil.Store(time.Now().Add(wait).UnixNano())
			b.cfg.Logger.Warn("the application asks for no more sign-ins for a while; app_sign_in pauses for everyone",
				zap.String("app", b.kind), zap.String("url", b.url), zap.Duration("retry_after", wait))
		}
		b.cfg.Logger.Info("the application refused to sign the user in; it shows its own page, and is not asked again for this session for a few minutes",
			zap.String("app", b.kind), zap.Int64("plex_user_id", s.UserID), zap.String("username", s.Username),
			zap.Int("status", ref.Status), zap.String("answer", ref.Message))
		b.cfg.Record(r, s, ResultRefused)
	default:
		b.backOff(id, errorBackoff)
		b.cfg.Logger.Warn("the application could not be asked to sign the user in",
			zap.String("app", b.kind), zap.String("url", b.url), zap.Int64("plex_user_id", s.UserID), zap.Error(err))
		b.cfg.Record(r, s, ResultError)
	}
	return session.AppSession{}, false
}

func (b *Block) backOff(id string, d time.Duration) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.backoff) >= backoffMax {
		for k, until := range b.backoff {
			if !now.Before(until) {
				delete(b.backoff, k)
			}
		}
	}
	if len(b.backoff) < backoffMax {
		b.backoff[id] = now.Add(d)
	}
}
