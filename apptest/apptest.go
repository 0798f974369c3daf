// Package apptest provides fakes of applications that have a "Sign in with
// Plex" of their own, Overseerr (and Seerr) and Tautulli, for tests, in the
// manner of net/http/httptest. Each listens on a loopback address and asks
// a plex.tv (the fake one of package plextest, or any other) who a token
// belongs to, as the real applications ask plex.tv.
//
// They follow the applications' own source, not this module's reading of
// it: sct/overseerr and seerr-team/seerr server/routes/auth.ts and
// server/index.ts; Tautulli/Tautulli plexpy/webauth.py, plexpy/webstart.py
// and data/interfaces/default/login.html. The package imports nothing of
// the module, so that a misreading of an application is not mirrored on
// both sides. All methods are safe for concurrent use.
package apptest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Account is what plex.tv said of a token.
type Account struct {
	ID       int    `json:"id"`
	UUID     string `json:"uuid"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// Request is one request a fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Time   time.Time
}

// plexClient asks plex.tv who a token belongs to. The real applications
// ask for the account (Overseerr's PlexTvAPI.getUser, Tautulli's
// get_plex_account_details); the fake plex.tv serves it at /api/v2/user.
type plexClient struct {
	url string
	c   *http.Client
}

func (p plexClient) account(token string) (*Account, int, error) {
	req, err := http.NewRequest(http.MethodGet, p.url+"/api/v2/user", nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := p.c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("plex.tv answered %d", resp.StatusCode)
	}
	var a Account
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, resp.StatusCode, err
	}
	return &a, resp.StatusCode, nil
}

// log keeps the requests a fake received.
type log struct {
	mu   sync.Mutex
	reqs []Request
}

func (l *log) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Time: time.Now()})
}

func (l *log) all() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.reqs...)
}

func (l *log) count(method, path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
