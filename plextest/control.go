package plextest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// SetDown switches the fake off or on. While down, the connection of every
// request is closed without an answer.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// SetUsersJSON makes /api/users honour Accept: application/json with the
// JSON form the Plex OpenAPI description gives (booleans as 0 and 1), or,
// off (the default), answer XML whatever the request's Accept header says:
// plex.tv's v1 endpoints have answered XML to every client known
// (Overseerr's server/api/plextv.ts sends Accept: application/json and
// parses XML).
func (s *Server) SetUsersJSON(on bool) {
	s.mu.Lock()
	s.usersJSON = on
	s.mu.Unlock()
}

// SetDelay makes every API answer (paths under /api/) wait d first.
// The wait ends early when the request's context is cancelled (for example
// by a client timeout) or the server is closed. Zero removes the delay.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetStatus makes every API call (paths under /api/) answer that HTTP status
// with an errors body, plus a Retry-After header of retryAfter seconds when
// retryAfter > 0. SetStatus(0, 0) goes back to normal answers.
func (s *Server) SetStatus(code int, retryAfter int) {
	s.mu.Lock()
	s.status, s.retryAfter = code, retryAfter
	s.mu.Unlock()
}

// SetOpenerPolicy makes the sign-in page (/auth) answer with the header
// Cross-Origin-Opener-Policy: policy, for example "same-origin"; "" sends
// none, the default. app.plex.tv sent COOP in September 2025 (Plex Web
// 4.152.0) and rolled it back: under it, a page that opened the sign-in page
// in a popup loses its handle on the popup (popup.closed reads true, and
// the popup's window.opener is null) while the user is still signing in.
func (s *Server) SetOpenerPolicy(policy string) {
	s.mu.Lock()
	s.openerPol = policy
	s.mu.Unlock()
}

// Requests returns a copy of the log of requests received, oldest first,
// including those to the sign-in page and those received while down.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = Request{
			Method: r.Method,
			Path:   r.Path,
			Query:  cloneValues(r.Query),
			Header: r.Header.Clone(),
			Time:   r.Time,
		}
	}
	return out
}

// Count returns how many logged requests had that method and path (the path
// without query). A path ending in "*" matches every path with that prefix,
// and an empty method matches any method.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix, isPrefix := strings.CutSuffix(path, "*")
	n := 0
	for _, r := range s.log {
		if method != "" && r.Method != method {
			continue
		}
		if isPrefix && strings.HasPrefix(r.Path, prefix) || !isPrefix && r.Path == path {
			n++
		}
	}
	return n
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomFrom returns n characters drawn from alphabet.
func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func randomAlnum(n int) string {
	return randomFrom("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n)
}

// newToken returns an opaque token shaped like the JWTs newer plex.tv issues.
func newToken() string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"kid":"plextest","typ":"JWT","alg":"EdDSA"}`))
	payload := enc.EncodeToString(fmt.Appendf(nil,
		`{"nonce":%q,"iss":"plextest","iat":%d}`, randomHex(16), time.Now().Unix()))
	sig := make([]byte, 64)
	rand.Read(sig)
	return header + "." + payload + "." + enc.EncodeToString(sig)
}

// SetTokenStatus makes every API call authenticated with the account's
// current token answer code with an errors body, as plex.tv answers 498
// for an expired token or 422 for an invalid one; other accounts are not
// affected. SetTokenStatus(username, 0) goes back to normal answers. It
// does nothing for an unknown account.
func (s *Server) SetTokenStatus(username string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[username]; ok {
		a.tokenStatus = code
	}
}

// Rename changes the account's username, as its owner can on plex.tv; its
// id, token and shares stay. It fails if the account is unknown or the new
// username is taken.
func (s *Server) Rename(username, newUsername string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[username]
	if !ok {
		return fmt.Errorf("%w: %q", errUnknownAccount, username)
	}
	if _, taken := s.accounts[newUsername]; taken {
		return fmt.Errorf("plextest: username %q is taken", newUsername)
	}
	delete(s.accounts, username)
	a.Username = newUsername
	s.accounts[newUsername] = a
	for _, m := range s.serverList {
		if sh, ok := m.shares[username]; ok {
			delete(m.shares, username)
			m.shares[newUsername] = sh
		}
	}
	return nil
}

// SetTitle sets the account's display name and SetEmail its email: plex.tv
// reports whatever its owner typed, so tests can make them hostile. They
// fail if the account is unknown.
func (s *Server) SetTitle(username, title string) error {
	return s.editAccount(username, func(a *account) { a.Title = title })
}

// SetEmail sets the account's email; see [Server.SetTitle].
func (s *Server) SetEmail(username, email string) error {
	return s.editAccount(username, func(a *account) { a.Email = email })
}

func (s *Server) editAccount(username string, edit func(*account)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[username]
	if !ok {
		return fmt.Errorf("%w: %q", errUnknownAccount, username)
	}
	edit(a)
	return nil
}
