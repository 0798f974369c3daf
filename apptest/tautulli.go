package apptest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tautulli is a fake Tautulli 2.17 (plexpy/webauth.py). Under its HTTP
// root it serves:
//
//   - GET  auth/login   the login page; starts a server-side session named
//     by the cookie tautulli_session_<hash> and puts its CSRF token in
//     <meta name="csrf-token" content="...">
//   - POST auth/signin  form fields token, remember_me: asks plex.tv whose
//     token it is; a user with guest access (or the admin) gets 200 JSON
//     {"status":"success","token","uuid"} and the cookie
//     tautulli_token_<hash> (Max-Age 30 days with remember_me=1, else 1 h;
//     Path the HTTP root; HttpOnly; SameSite=Lax); anyone else 401
//     {"status":"error","message":"Invalid credentials."}. Ten failed
//     sign-ins from one address within 300 s lock it out for 300 s: 429
//     with Retry-After (check_rate_limit; HTTP_RATE_LIMIT_* in config.py).
//   - GET  auth/logout  revokes the token cookie's sign-in, expires the
//     cookie and redirects to auth/login
//   - anything else     200, a page naming the signed-in user; without a
//     valid token cookie, a redirect to auth/logout, as check_auth does
//
// <hash> is the first 10 hex digits of the SHA-256 of the Plex server's
// identifier (helpers.hash_pms_uuid). With the CSRF check on (the
// default, as from 2.17.1), a POST outside /api needs an X-CSRF-Token
// equal to its session's token, unless it carries the API key as
// X-Api-Key (check_csrf_token); otherwise 403.
type Tautulli struct {
	// URL is the fake's address with its HTTP root, without a trailing
	// slash: http://127.0.0.1:port or http://127.0.0.1:port/tautulli.
	URL string
	// Hash names the cookies: tautulli_token_<Hash>, tautulli_session_<Hash>.
	Hash string
	// APIKey is the key that skips the CSRF check.
	APIKey string

	root string // "/" or "/tautulli/"
	srv  *httptest.Server
	plex plexClient
	log  log

	mu       sync.Mutex
	csrf     bool
	admin    int               // Plex id of the server's owner
	guests   map[int]bool      // Plex ids with guest access
	sessions map[string]string // tautulli_session id -> CSRF token
	tokens   map[string]int    // live sign-in tokens -> Plex id
	names    map[int]string    // Plex id -> username, as Tautulli's users table
	failures map[string][]time.Time
}

// NewTautulli starts a fake Tautulli that asks plex.tv at plexURL, for the
// Plex server pmsUUID, under the HTTP root root ("" or "/" for none).
func NewTautulli(plexURL, pmsUUID, root string) *Tautulli {
	sum := sha256.Sum256([]byte(pmsUUID))
	root = "/" + strings.Trim(root, "/")
	if root != "/" {
		root += "/"
	}
	t := &Tautulli{
		Hash:     hex.EncodeToString(sum[:])[:10],
		APIKey:   randomHex(16),
		root:     root,
		plex:     plexClient{url: strings.TrimRight(plexURL, "/"), c: &http.Client{Timeout: 10 * time.Second}},
		csrf:     true,
		guests:   map[int]bool{},
		sessions: map[string]string{},
		tokens:   map[string]int{},
		names:    map[int]string{},
		failures: map[string][]time.Time{},
	}
	t.srv = httptest.NewServer(http.HandlerFunc(t.serve))
	t.URL = strings.TrimRight(t.srv.URL+root, "/")
	return t
}

// Close shuts the fake down.
func (t *Tautulli) Close() { t.srv.Close() }

// CookieName is the name of the sign-in cookie.
func (t *Tautulli) CookieName() string { return "tautulli_token_" + t.Hash }

// SetCSRF turns the CSRF check on (2.17.1 on) or off (older versions).
func (t *Tautulli) SetCSRF(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.csrf = on
}

// SetAdmin makes the Plex account id the server's admin (HTTP_PLEX_ADMIN).
func (t *Tautulli) SetAdmin(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.admin = id
}

// AllowGuest gives the Plex account id guest access.
func (t *Tautulli) AllowGuest(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.guests[id] = true
}

// TokenUser is the Plex id signed in by the token cookie's value, or 0.
func (t *Tautulli) TokenUser(value string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tokens[value]
}

// SignedIn is the number of live sign-ins.
func (t *Tautulli) SignedIn() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.tokens)
}

// Requests are the requests the fake received, in order.
func (t *Tautulli) Requests() []Request { return t.log.all() }

// Count is the number of requests with that method and path (the path
// with the HTTP root, as received).
func (t *Tautulli) Count(method, path string) int { return t.log.count(method, path) }

// cookiePath is the sign-in cookie's path: the HTTP root without its
// trailing slash, or / (plexpy.HTTP_ROOT.rstrip('/') or '/').
func (t *Tautulli) cookiePath() string {
	if p := strings.TrimSuffix(t.root, "/"); p != "" {
		return p
	}
	return "/"
}

// Path is p under the HTTP root ("auth/signin" -> "/tautulli/auth/signin").
func (t *Tautulli) Path(p string) string { return t.root + strings.TrimPrefix(p, "/") }

func (t *Tautulli) serve(w http.ResponseWriter, r *http.Request) {
	t.log.add(r)
	if !strings.HasPrefix(r.URL.Path, t.root) && r.URL.Path+"/" != t.root {
		http.NotFound(w, r)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, t.root)
	if r.Method == http.MethodPost && !strings.HasPrefix(p, "api") && !t.csrfOK(r) {
		http.Error(w, "403 Forbidden", http.StatusForbidden)
		return
	}
	switch p {
	case "auth/login":
		tok := randomHex(16)
		sid := randomHex(20)
		t.mu.Lock()
		t.sessions[sid] = tok
		t.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "tautulli_session_" + t.Hash, Value: sid, Path: "/", HttpOnly: true})
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head>\n    <meta charset=\"utf-8\">\n    <meta name=\"csrf-token\" content=\"%s\">\n</head><body>Tautulli login</body></html>\n", html.EscapeString(tok))
	case "auth/signin":
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"status": "error"})
			return
		}
		t.signIn(w, r)
	case "auth/logout":
		if c, err := r.Cookie(t.CookieName()); err == nil {
			t.mu.Lock()
			delete(t.tokens, c.Value)
			t.mu.Unlock()
		}
		http.SetCookie(w, &http.Cookie{Name: t.CookieName(), Value: "", Path: t.cookiePath(), MaxAge: -1})
		http.Redirect(w, r, t.root+"auth/login", http.StatusSeeOther)
	default:
		id := 0
		if c, err := r.Cookie(t.CookieName()); err == nil {
			id = t.TokenUser(c.Value)
		}
		if id == 0 {
			http.Redirect(w, r, t.root+"auth/logout", http.StatusSeeOther)
			return
		}
		t.mu.Lock()
		name := t.names[id]
		t.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "tautulli: signed in as %s\n", name)
	}
}

func (t *Tautulli) csrfOK(r *http.Request) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.csrf {
		return true
	}
	if k := r.Header.Get("X-Api-Key"); k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(t.APIKey)) == 1 {
		return true
	}
	c, err := r.Cookie("tautulli_session_" + t.Hash)
	if err != nil {
		return false
	}
	want := t.sessions[c.Value]
	got := r.Header.Get("X-CSRF-Token")
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// lockout is how long the address is still locked out, or 0.
// t.mu must be held.
func (t *Tautulli) lockout(ip string, now time.Time) time.Duration {
	var recent []time.Time
	for _, f := range t.failures[ip] {
		if now.Sub(f) < 300*time.Second {
			recent = append(recent, f)
		}
	}
	t.failures[ip] = recent
	if len(recent) >= 10 {
		return recent[len(recent)-1].Add(300 * time.Second).Sub(now)
	}
	return 0
}

func (t *Tautulli) signIn(w http.ResponseWriter, r *http.Request) {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	t.mu.Lock()
	wait := t.lockout(ip, now)
	t.mu.Unlock()
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": "error", "message": "Too many login attempts."})
		return
	}
	_ = r.ParseForm()
	token, remember := r.PostForm.Get("token"), r.PostForm.Get("remember_me")
	acct, _, err := t.plex.account(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || (acct.ID != t.admin && !t.guests[acct.ID]) {
		t.failures[ip] = append(t.failures[ip], now)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": "error", "message": "Invalid credentials."})
		return
	}
	t.failures[ip] = nil // a success starts the count again (last_success)
	t.names[acct.ID] = acct.Username
	jwt := randomHex(24)
	t.tokens[jwt] = acct.ID
	maxAge := 3600
	if remember == "1" {
		maxAge = 30 * 24 * 3600
	}
	http.SetCookie(w, &http.Cookie{
		Name: t.CookieName(), Value: jwt, MaxAge: maxAge,
		Path: t.cookiePath(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "token": jwt, "uuid": t.Hash})
}
