package plexauth

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/appsignin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/cookieheader"
)

// The application sessions app_sign_in keeps in a plex_auth session: how
// they are remembered, put in a request, removed from one, and ended.

// remember keeps e in the session, in memory and in the store. A session
// replaced meanwhile (a re-check) gets it too; one that ended does not.
func (a *appState) remember(s *Session, id string, e AppSession) {
	sc := a.h.sessions
	cur := s
	for range 3 {
		fresh := sessionWithApps(cur, withApp(cur.Apps, e))
		sc.Update(id, cur, fresh)
		if sc.Holds(id, fresh) {
			return
		}
		var err error
		if cur, err = sc.Lookup(id, time.Now(), a.h.cacheTTL); cur == nil || err != nil {
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
	a.h.sessions.Update(id, s, sessionWithApps(s, kept))
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
		UserID: s.UserID, UUID: s.UUID, Username: s.Username, Email: s.Email, Title: s.Title, Thumb: s.Thumb,
		Servers: s.Servers, Token: s.Token, Created: s.Created, Expires: s.Expires, Checked: s.Checked,
		SignoutMark: s.SignoutMark, Apps: apps,
	}
	n.Prepare()
	return n
}

// present puts e's cookie in the request, in place of any value of that
// name, and sets it in the browser.
func (a *appState) present(w http.ResponseWriter, r *http.Request, e *AppSession) {
	cookieheader.StripMatching(r.Header, func(name string) bool { return name == e.Name })
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
	for _, name := range cookieheader.StripMatching(r.Header, a.app.IsCookie) {
		a.h.clearCookie(w, r, name, "/", "")
		if a.rootPath != "" && a.rootPath != "/" {
			a.h.clearCookie(w, r, name, a.rootPath, "")
		}
	}
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
