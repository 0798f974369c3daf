package apptest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Overseerr is a fake Overseerr (or Seerr, see [Overseerr.SetSeerrMainUser]).
// It serves:
//
//   - POST /api/v1/auth/plex   JSON {"authToken"}: asks plex.tv whose token it
//     is; with a live connect.sid it updates that session's user with the
//     token's account and sets no cookie ("If we are already logged in");
//     otherwise it signs in the user with that Plex id (creating it when new
//     Plex sign-ins are on), answers 200 and sets connect.sid (Path=/,
//     Expires in 30 days, HttpOnly, as express-session does with the
//     maxAge of server/index.ts). 403 "Access denied." to a Plex user it
//     has not imported while new Plex sign-ins are off, and to one without
//     access to the server; 500 when plex.tv rejects the token.
//   - GET  /api/v1/auth/me     the session's user (200), else 403
//   - POST /api/v1/auth/logout destroys the session (200 {"status":"ok"})
//   - GET  /api/v1/status      200; with CSRF protection on, sets _csrf and
//     XSRF-TOKEN as csurf does
//   - anything else            200, a page naming the session's user or none
//
// With CSRF protection on ([Overseerr.SetCSRF]), every POST needs the
// _csrf cookie and an X-XSRF-TOKEN header that matches it, else 403
// "invalid csrf token".
type Overseerr struct {
	// URL is the fake's base URL, http://127.0.0.1:port.
	URL string

	srv  *httptest.Server
	plex plexClient
	log  log

	mu           sync.Mutex
	users        map[int]*OverseerrUser // by Plex id
	sessions     map[string]int         // session id -> Plex id of its user
	newPlexLogin bool
	denied       map[int]bool
	seerrMain    int
	csrf         bool
	csrfTokens   map[string]string // _csrf secret -> token
}

// OverseerrUser is a user of the fake Overseerr: what it last stored of
// the Plex account.
type OverseerrUser struct {
	PlexID   int
	Username string
	Email    string
	Token    string // the Plex token it last stored
}

// NewOverseerr starts a fake Overseerr that asks plex.tv at plexURL.
// New Plex sign-ins are on (the account is created at its first sign-in).
func NewOverseerr(plexURL string) *Overseerr {
	o := &Overseerr{
		plex:         plexClient{url: strings.TrimRight(plexURL, "/"), c: &http.Client{Timeout: 10 * time.Second}},
		users:        map[int]*OverseerrUser{},
		sessions:     map[string]int{},
		newPlexLogin: true,
		denied:       map[int]bool{},
		csrfTokens:   map[string]string{},
	}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	o.URL = o.srv.URL
	return o
}

// Close shuts the fake down.
func (o *Overseerr) Close() { o.srv.Close() }

// SetNewPlexLogin turns Overseerr's "Enable New Plex Sign-In" on or off.
func (o *Overseerr) SetNewPlexLogin(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.newPlexLogin = on
}

// Import adds the user with Plex id id, as Overseerr's "Import Plex Users".
func (o *Overseerr) Import(id int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.users[id] == nil {
		o.users[id] = &OverseerrUser{PlexID: id}
	}
}

// Deny makes the Plex account id one without access to the media server.
func (o *Overseerr) Deny(id int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.denied[id] = true
}

// SetSeerrMainUser makes the fake answer as Seerr does for the Plex Home's
// main user (or the admin) id: 200 {"status":"REQUIRES_PROFILE"} with no
// session cookie. 0 turns it off.
func (o *Overseerr) SetSeerrMainUser(id int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seerrMain = id
}

// SetCSRF turns Overseerr's "CSRF Protection" setting on or off.
func (o *Overseerr) SetCSRF(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.csrf = on
}

// User is what the fake holds of the Plex account id, or nil.
func (o *Overseerr) User(id int) *OverseerrUser {
	o.mu.Lock()
	defer o.mu.Unlock()
	if u := o.users[id]; u != nil {
		c := *u
		return &c
	}
	return nil
}

// SessionUser is the Plex id of the user the connect.sid value signs in,
// or 0 when it names no live session.
func (o *Overseerr) SessionUser(cookieValue string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sessions[sessionID(cookieValue)]
}

// Sessions is the number of live sessions.
func (o *Overseerr) Sessions() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sessions)
}

// Requests are the requests the fake received, in order.
func (o *Overseerr) Requests() []Request { return o.log.all() }

// Count is the number of requests with that method and path.
func (o *Overseerr) Count(method, path string) int { return o.log.count(method, path) }

// sessionID is the session id a connect.sid value carries: express-session
// signs it as s:<id>.<signature>, URL-encoded.
func sessionID(v string) string {
	if u, err := url.QueryUnescape(v); err == nil {
		v = u
	}
	v = strings.TrimPrefix(v, "s:")
	if i := strings.LastIndexByte(v, '.'); i > 0 {
		return v[:i]
	}
	return ""
}

func (o *Overseerr) serve(w http.ResponseWriter, r *http.Request) {
	o.log.add(r)
	if r.Method == http.MethodPost && !o.csrfOK(r) {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "invalid csrf token"})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/auth/plex":
		o.signIn(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/auth/me":
		if id := o.current(r); id != 0 {
			writeJSON(w, http.StatusOK, o.userJSON(id))
			return
		}
		writeJSON(w, http.StatusForbidden, map[string]any{"status": 403, "error": "You do not have permission to access this endpoint"})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/auth/logout":
		if c, err := r.Cookie("connect.sid"); err == nil {
			o.mu.Lock()
			delete(o.sessions, sessionID(c.Value))
			o.mu.Unlock()
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/status":
		o.mu.Lock()
		csrf := o.csrf
		secret, tok := randomHex(12), randomHex(16)
		if csrf {
			o.csrfTokens[secret] = tok
		}
		o.mu.Unlock()
		if csrf {
			http.SetCookie(w, &http.Cookie{Name: "_csrf", Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.SetCookie(w, &http.Cookie{Name: "XSRF-TOKEN", Value: tok, Path: "/", SameSite: http.SameSiteStrictMode})
		}
		writeJSON(w, http.StatusOK, map[string]any{"version": "fake"})
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if id := o.current(r); id != 0 {
			_, _ = w.Write([]byte("overseerr: signed in as " + o.User(id).Username + "\n"))
			return
		}
		_, _ = w.Write([]byte("overseerr: sign in with Plex\n"))
	}
}

func (o *Overseerr) csrfOK(r *http.Request) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.csrf {
		return true
	}
	c, err := r.Cookie("_csrf")
	if err != nil {
		return false
	}
	want, ok := o.csrfTokens[c.Value]
	return ok && want != "" && r.Header.Get("X-XSRF-TOKEN") == want
}

// current is the Plex id of the request's session's user, or 0.
func (o *Overseerr) current(r *http.Request) int {
	c, err := r.Cookie("connect.sid")
	if err != nil {
		return 0
	}
	return o.SessionUser(c.Value)
}

func (o *Overseerr) userJSON(id int) map[string]any {
	u := o.User(id)
	if u == nil {
		return map[string]any{}
	}
	return map[string]any{"plexId": u.PlexID, "plexUsername": u.Username, "email": u.Email}
}

func (o *Overseerr) signIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AuthToken string `json:"authToken"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil || body.AuthToken == "" {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "Authentication token required."})
		return
	}
	acct, _, err := o.plex.account(body.AuthToken)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "Unable to authenticate."})
		return
	}
	signedIn := o.current(r)
	o.mu.Lock()
	defer o.mu.Unlock()
	var u *OverseerrUser
	if signedIn != 0 {
		// "If we are already logged in, we should just get the currently
		// logged in user": that user now carries this token's account.
		u = o.users[signedIn]
	} else {
		u = o.users[acct.ID]
	}
	if o.denied[acct.ID] {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Access denied."})
		return
	}
	if u == nil {
		if !o.newPlexLogin {
			writeJSON(w, http.StatusForbidden, map[string]any{"message": "Access denied."})
			return
		}
		u = &OverseerrUser{PlexID: acct.ID}
		o.users[acct.ID] = u
	}
	u.Token, u.PlexID, u.Username = body.AuthToken, acct.ID, acct.Username
	if u.Email == "" {
		u.Email = acct.Email
	}
	if signedIn != 0 {
		// The session's user was rewritten; express-session sets no cookie
		// for a session it already had and did not modify.
		writeJSON(w, http.StatusOK, map[string]any{"plexId": u.PlexID, "plexUsername": u.Username})
		return
	}
	if o.seerrMain != 0 && acct.ID == o.seerrMain {
		writeJSON(w, http.StatusOK, map[string]any{"status": "REQUIRES_PROFILE", "mainUserId": 1, "profiles": []any{}})
		return
	}
	sid := randomHex(16)
	o.sessions[sid] = acct.ID
	http.SetCookie(w, &http.Cookie{
		Name:     "connect.sid",
		Value:    url.QueryEscape("s:" + sid + "." + randomHex(8)),
		Path:     "/",
		Expires:  time.Now().Add(30 * 24 * time.Hour),
		HttpOnly: true,
	})
	writeJSON(w, http.StatusOK, map[string]any{"plexId": u.PlexID, "plexUsername": u.Username})
}
