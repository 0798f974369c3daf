package appsignin

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The application sessions a Block keeps in a plex_auth session: how they
// are remembered, put in a request, removed from one, and ended.

// remember keeps e in the session, in memory and in the store. A session
// replaced meanwhile (a re-check) gets it too; one that ended does not.
func (b *Block) remember(s *session.Session, id string, e session.AppSession) {
	sc := b.cfg.Sessions
	cur := s
	for range 3 {
		fresh := withApps(cur, withApp(cur.Apps, e))
		sc.Update(id, cur, fresh)
		if sc.Holds(id, fresh) {
			return
		}
		var err error
		if cur, err = sc.Lookup(id, time.Now(), b.cfg.CacheTTL); cur == nil || err != nil {
			return
		}
	}
}

// forget drops this application's session from the plex_auth session.
func (b *Block) forget(s *session.Session, id string) {
	if id == "" {
		return
	}
	var kept []session.AppSession
	for _, e := range s.Apps {
		if e.URL != b.url || e.Kind != b.kind {
			kept = append(kept, e)
		}
	}
	b.cfg.Sessions.Update(id, s, withApps(s, kept))
}

// withApp is apps with e in place of the entry for e's application.
func withApp(apps []session.AppSession, e session.AppSession) []session.AppSession {
	out := make([]session.AppSession, 0, len(apps)+1)
	for _, o := range apps {
		if o.URL != e.URL || o.Kind != e.Kind {
			out = append(out, o)
		}
	}
	return append(out, e)
}

// withApps is a copy of s holding apps. A session in memory is never
// changed in place (requests read it without a lock): a change is a new
// object that replaces it (session.Cache.Update). Every stored field is
// copied (TestSessionWithAppsCopiesEveryStoredField).
func withApps(s *session.Session, apps []session.AppSession) *session.Session {
	n := &session.Session{
		UserID: s.UserID, UUID: s.UUID, Username: s.Username, Email: s.Email, Title: s.Title, Thumb: s.Thumb,
		Servers: s.Servers, Token: s.Token, Created: s.Created, Expires: s.Expires, Checked: s.Checked,
		SignoutMark: s.SignoutMark, Apps: apps,
	}
	n.Prepare()
	return n
}

// present puts e's cookie in the request, in place of any value of that
// name, and sets it in the browser.
func (b *Block) present(w http.ResponseWriter, r *http.Request, e *session.AppSession) {
	cookieheader.StripMatching(r.Header, func(name string) bool { return name == e.Name })
	pair := e.Name + "=" + e.Value
	if lines := r.Header["Cookie"]; len(lines) > 0 {
		nl := append([]string(nil), lines...)
		nl[len(nl)-1] += "; " + pair
		r.Header["Cookie"] = nl
	} else {
		r.Header["Cookie"] = []string{pair}
	}
	c := &http.Cookie{Name: e.Name, Value: e.Value, Path: e.Path, HttpOnly: true, Secure: b.cfg.Secure(r), SameSite: http.SameSiteLaxMode}
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
func (b *Block) strip(w http.ResponseWriter, r *http.Request) {
	for _, name := range cookieheader.StripMatching(r.Header, b.app.IsCookie) {
		b.expire(w, r, name, "/")
		if b.rootPath != "" && b.rootPath != "/" {
			b.expire(w, r, name, b.rootPath)
		}
	}
}

// ExpireCookie expires in the browser the cookie of the application
// session this block made for s, if s holds one: for a sign-out at the
// block's logout, whose response reaches the browser.
func (b *Block) ExpireCookie(w http.ResponseWriter, r *http.Request, s *session.Session) {
	for _, e := range s.Apps {
		if e.Kind == b.kind && e.URL == b.url {
			path := e.Path
			if path == "" {
				path = "/"
			}
			b.expire(w, r, e.Name, path)
		}
	}
}

// expire sets the host-only cookie name at path as expired, with the
// attributes plex_auth sets its own cookies with.
func (b *Block) expire(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: b.cfg.Secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// EndSessions ends the application sessions app_sign_in made for s (its
// logout, a re-check that ended it, the admin API), each with the
// application's own sign-out, in the background, bounded by timeout: best
// effort, as the plex_auth session is over whatever the application says.
// A failed sign-out is logged to log, if not nil.
func EndSessions(s *session.Session, timeout time.Duration, log *zap.Logger) {
	for _, e := range s.Apps {
		app, err := New(e.Kind, e.URL, "", timeout)
		if err != nil {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := app.SignOut(ctx, Cookie{Name: e.Name, Value: e.Value}); err != nil && log != nil {
				log.Info("the application's sign-out failed; its session ends when it expires",
					zap.String("app", e.Kind), zap.Int64("plex_user_id", s.UserID), zap.Error(err))
			}
		}()
	}
}
